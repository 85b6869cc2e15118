//! Test fixture: a well-formed component of a world that is not
//! `rill:processor`, so loading it must be refused with a clear message.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        inline: "
            package fixture:other;
            world greeter {
                export greet: func(name: string) -> string;
            }
        ",
    });

    struct Greeter;

    impl Guest for Greeter {
        fn greet(name: String) -> String {
            format!("hello {name}")
        }
    }

    export!(Greeter);
}
