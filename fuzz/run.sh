#!/usr/bin/env bash
# Fuzzes every parser of external input with cargo-fuzz on stable Rust (RUSTC_BOOTSTRAP=1).
#
#   fuzz/run.sh [seconds-per-target] [target…]     # default 20 s, every target
#
# Replays fuzz/regressions/<target>/* first (inputs that once crashed), then seeds
# fuzz/corpus/<target>/ from fuzz/seeds/ and the shared provider payloads, and fuzzes each target
# for the given time. Exits non-zero when any input crashes, printing its path under
# fuzz/artifacts/<target>/. A crash found here gets a regression test next to the parser and its
# minimised input (`cargo fuzz tmin <target> <crash>`) under fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-20}"
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [seconds-per-target] [target…]" >&2; exit 2; }

# Its own build cache, outside the clone, so CI runs reuse the last build.
export CARGO_TARGET_DIR="${SWITCHBOARD_FUZZ_TARGET_DIR:-$HOME/.cache/switchboard-fuzz-target}"
# cargo-fuzz passes nightly-only flags (-Zsanitizer, sancov passes); stable accepts them with this.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# AddressSanitizer (cargo-fuzz's default) also hooks memcmp, which teaches libFuzzer the
# strings our parsers compare against; -a turns on debug assertions in every crate.
fuzz_flags=(--debug-assertions)
libfuzzer_flags=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

mapfile -t all_targets < <(cargo fuzz list)
targets=("${@:-${all_targets[@]}}")
shared="${SWITCHBOARD_PAYLOADS:-../../shared/providers/payloads}"

echo "==> building ${#targets[@]} fuzz targets"
cargo fuzz build "${fuzz_flags[@]}"

logs="artifacts/logs"
mkdir -p "$logs"
failed=()

# Newest crash/timeout/oom files libFuzzer wrote for a target since `marker`.
report_artifacts() {
  local target="$1" marker="$2"
  find "artifacts/$target" -type f -newer "$marker" 2>/dev/null | sed 's|^|    crashing input: fuzz/|'
}

echo "==> replaying fuzz/regressions"
for target in "${targets[@]}"; do
  shopt -s nullglob
  inputs=("regressions/$target"/*)
  shopt -u nullglob
  ((${#inputs[@]})) || continue
  if ! cargo fuzz run "${fuzz_flags[@]}" "$target" "${inputs[@]}" -- "${libfuzzer_flags[@]}" \
    >"$logs/$target.replay.log" 2>&1; then
    echo "FAIL $target: a regression input crashes again"
    tail -n 40 "$logs/$target.replay.log"
    failed+=("$target (regression)")
  else
    echo "ok   $target: ${#inputs[@]} regression inputs"
  fi
done

seed() {
  local target="$1" corpus="corpus/$1" file
  mkdir -p "$corpus"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "$corpus/" 2>/dev/null || true; fi
  [ -d "$shared" ] || return 0
  shopt -s nullglob
  case "$target" in
    freshchat_webhook) for file in "$shared"/freshchat_*.json; do cp -n "$file" "$corpus/"; done ;;
    freshdesk_webhook) for file in "$shared"/freshdesk_*.json; do cp -n "$file" "$corpus/"; done ;;
    provider_responses | html_to_text) for file in "$shared"/*.json "$shared"/*.txt; do cp -n "$file" "$corpus/"; done ;;
    # Real bodies behind an empty key and header (`key \0 header \0 body`).
    freshchat_signature)
      for file in "$shared"/freshchat_*.json; do
        { printf '\0\0'; cat "$file"; } >"$corpus/body_$(basename "$file")"
      done
      ;;
  esac
  shopt -u nullglob
}

echo "==> fuzzing each target for ${seconds}s"
for target in "${targets[@]}"; do
  seed "$target"
  marker="$logs/$target.started"
  touch "$marker"
  # New inputs go to the first directory (corpus/, git-ignored); seeds/ is only read.
  if cargo fuzz run "${fuzz_flags[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" "${libfuzzer_flags[@]}" >"$logs/$target.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+' "$logs/$target.log" | tail -n 1)
    echo "ok   $target: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(find "corpus/$target" -type f | wc -l)"
  else
    echo "FAIL $target (log: fuzz/$logs/$target.log)"
    grep -A 2 -E 'panicked at|==[0-9]+==ERROR|^SUMMARY|ALARM' "$logs/$target.log" | head -n 20 || true
    report_artifacts "$target" "$marker"
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  echo "==> fuzzing found crashes in: ${failed[*]}" >&2
  echo "    reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions <target> fuzz/artifacts/<target>/<file>" >&2
  exit 1
fi
echo "==> fuzzing passed"
