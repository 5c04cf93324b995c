#!/bin/bash
# Count the runs in which JACK stalls on `patchbay play --input`: a private
# dummy jackd, a sine played by one patchbay, an input-gain patch by another
# whose input the sine is then connected to. A run counts as stalled when
# jackd logged more than 10 "Process error" cycles (a graph stuck for good,
# not one late cycle). Needs jackd2; see ARCHITECTURE.md, "Disk work".
#
#   tools/jack-input-order.sh [RUNS] [PATCHBAY_BINARY]
set -u
runs=${1:-20}
bin=${2:-target/release/patchbay}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export JACK_DEFAULT_SERVER=patchbay-order-$$ JACK_NO_AUDIO_RESERVATION=1

wait_for() {
    for _ in $(seq 200); do
        local listed
        listed=$(jack_lsp 2>/dev/null)
        local all=1
        for port in "$@"; do grep -qx "$port" <<<"$listed" || all=0; done
        [ $all = 1 ] && return 0
        sleep 0.05
    done
    return 1
}

stalled=0
hung=0
for run in $(seq "$runs"); do
    jackd --no-realtime -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 256 >"$work/jackd.log" 2>&1 &
    jackd=$!
    wait_for system:playback_1
    "$bin" play "$repo/patches/sine.json" --host jack --device src --seconds 30 >/dev/null 2>&1 &
    source=$!
    "$bin" play "$repo/patches/input-gain.json" --host jack --device fx --input fx --seconds 3 >"$work/fx.log" 2>&1 &
    fx=$!
    if wait_for src_out:out_0 src_out:out_1 fx_in:in_0 fx_in:in_1; then
        jack_connect src_out:out_0 fx_in:in_0
        jack_connect src_out:out_1 fx_in:in_1
    fi
    for _ in $(seq 100); do kill -0 $fx 2>/dev/null || break; sleep 0.1; done
    if kill -9 $fx 2>/dev/null; then
        hung=$((hung + 1))
        echo "run $run: play did not end within 10 s"
    fi
    wait $fx 2>/dev/null
    kill $source; wait $source 2>/dev/null
    errors=$(grep -c "Process error" "$work/jackd.log")
    kill $jackd; wait $jackd 2>/dev/null
    if [ "$errors" -gt 10 ]; then
        stalled=$((stalled + 1))
        echo "run $run: stalled ($errors cycles): $(grep -m1 'client =' "$work/jackd.log")"
    fi
done
echo "stalled runs: $stalled of $runs; hung: $hung"
