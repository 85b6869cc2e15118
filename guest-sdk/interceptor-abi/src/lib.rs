//! The `rill:interceptor` world's component ABI, generated from
//! `wit/interceptor/` by wit-bindgen, behind `export_interceptor!` (defined here).
//! Interceptor code uses `rill_sdk::intercept` and that macro only.
//!
//! A crate of its own because wit-bindgen's component-type section is
//! linked into every plugin that links the crate holding it: were it in
//! rill-sdk, every processor would import the interceptor world's types.
//! Natively only the macro is here (it expands to nothing off wasm32).

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub use wasm::*;

/// Exports a [`rill_sdk::intercept::Interceptor`] as the plugin's component.
///
/// Write it once, at the top level of the interceptor crate
/// (`rill_interceptor_abi::export_interceptor!(MyInterceptor);`). It lives
/// here, beside the world's bindings, rather than in `rill-sdk`, so the SDK
/// never names this crate back (processors built with `rill-sdk` never
/// carry the interceptor world). On `wasm32` it
/// generates the `rill:interceptor` world's exports, each calling the
/// trait's hook per item and then `end_batch`; natively it expands to
/// nothing.
#[macro_export]
macro_rules! export_interceptor {
    ($interceptor:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate as abi;
            struct RillInterceptor;
            impl abi::Guest for RillInterceptor {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    abi::init::<$interceptor>(config)
                }
                fn on_consume(
                    records: ::std::vec::Vec<abi::ConsumedRecord>,
                ) -> ::std::result::Result<::std::vec::Vec<abi::ConsumeAction>, ::std::string::String> {
                    abi::on_consume::<$interceptor>(records)
                }
                fn on_commit(
                    offsets: ::std::vec::Vec<abi::CommittedOffset>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    abi::on_commit::<$interceptor>(offsets)
                }
                fn on_send(
                    records: ::std::vec::Vec<abi::SendRecord>,
                ) -> ::std::result::Result<::std::vec::Vec<abi::SendAction>, ::std::string::String> {
                    abi::on_send::<$interceptor>(records)
                }
                fn on_acknowledgement(
                    acks: ::std::vec::Vec<abi::Acknowledgement>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    abi::on_acknowledgement::<$interceptor>(acks)
                }
            }
            $crate::export_interceptor_world!(RillInterceptor with_types_in $crate::bindings);
        };
    };
}
