// The seam between the author-facing API and whatever runs it: the
// component's imports (abi.js) or the Driver's in-memory host (testing.js).
// Every host call of the SDK goes through `current()`, so index.js never
// imports a component interface and runs unchanged under node.

/** The host every call goes to (none until a component or Driver installs one). */
let installed = null;

/** Makes `host` the one every state, timer and log call uses. */
export function install(host) {
  installed = host;
}

/** The installed host; outside a component or a Driver there is none. */
export function current() {
  if (installed === null) throw new Error('no rill host: run the processor in a component or through rill-sdk/testing Driver');
  return installed;
}

/** Why a state call failed, worded as the Rust SDK's StateError. */
export function stateError(error) {
  if (error?.tag === 'undeclared') return new Error(`'${error.val}' is not a store or table declared in the manifest`);
  if (error?.tag === 'storage') return new Error(`state storage failed: ${error.val}`);
  return error instanceof Error ? error : new Error(String(error));
}
