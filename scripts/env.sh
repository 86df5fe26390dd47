# Sourced by the scripts: the environment a wasm32 build needs on these machines
# (see docs/toolchain.md). Debian's rustc-web toolchain builds std from source (build-std),
# since rustup has no wasm32 std here.
EVERGREEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EVERGREEN_ROOT
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# Cargo's build output lives once per machine, not once per checkout: a fresh clone (CI's runs
# in one) reuses the dependencies, std and tools earlier builds compiled instead of compiling
# them again. A brand-new machine starts empty, as before. Set CARGO_TARGET_DIR to choose
# another place; scripts/setup empties it when it outgrows EVERGREEN_TARGET_MAX_GB (default 40).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/evergreen/target}"
# Every checkout's own crates share one set of artifacts there too (cargo hashes a workspace
# member by its path inside the workspace, not on disk), and cargo judges them fresh by mtimes.
# So after another checkout built, an edit made here before that build looks older than the
# artifact, and cargo would serve the other checkout's build as this one's. When the last
# checkout to come through here was another, this one's sources are touched, so cargo rebuilds
# them from here (the crates only; dependencies stay).
# (A new, empty output has nothing stale in it: it only records the checkout.)
evergreen_last="$CARGO_TARGET_DIR/.evergreen-last-checkout"
if [[ "$(cat "$evergreen_last" 2>/dev/null)" != "$EVERGREEN_ROOT" ]]; then
  if [[ -d "$CARGO_TARGET_DIR" ]]; then
    find "$EVERGREEN_ROOT/src" "$EVERGREEN_ROOT/tests" "$EVERGREEN_ROOT/fake-platform" \
      -type f -exec touch {} + 2>/dev/null || true
  fi
  mkdir -p "$CARGO_TARGET_DIR"
  echo "$EVERGREEN_ROOT" > "$evergreen_last.$$" && mv "$evergreen_last.$$" "$evergreen_last"
fi
unset evergreen_last
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
