# Sourced by the scripts: the environment a wasm32 build needs on these machines
# (see docs/toolchain.md). Debian's rustc-web toolchain builds std from source (build-std),
# since rustup has no wasm32 std here.
EVERGREEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EVERGREEN_ROOT
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# Cargo's build output lives once per machine, not once per checkout: a fresh clone (CI's runs
# in one) reuses the dependencies, std and tools earlier builds compiled instead of compiling
# them again (cargo still rebuilds whatever changed, and keeps each checkout's own crate apart).
# A brand-new machine starts empty, as before. Set CARGO_TARGET_DIR to choose another place;
# scripts/setup empties it when it outgrows EVERGREEN_TARGET_MAX_GB (default 40).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/evergreen/target}"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$EVERGREEN_ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false

# Runs a command in the wasm32 environment, leaving the caller's environment alone.
wasm_env() {
  RUSTUP_TOOLCHAIN=/usr \
  RUSTC_BOOTSTRAP=1 \
  WASM_BINDGEN_USE_JS_SYS=1 \
  WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen" \
  WASM_OPT_BIN="$EVERGREEN_ROOT/scripts/wasm-opt" \
  ESBUILD_BIN="$EVERGREEN_ROOT/node_modules/.bin/esbuild" \
  "$@"
}
