#!/usr/bin/env bash
# Runs every quantfit-cli command that reads a file over a sample of a fuzz corpus (the inputs a
# fuzzer kept), with a sanitizer build of the CLI, and reports each run that ends other than
# "exit 0" or "exit 1 with exactly one 'error:' line", or prints a sanitizer report.
#   tests/fuzz/clisweep.sh CLI CORPUS_DIR [SAMPLE]
#   e.g. tests/fuzz/clisweep.sh build-test/app/quantfit-cli fuzz-corpus 500
set -uo pipefail
cli=$(realpath "$1"); corpus=$(realpath "$2"); sample=${3:-200}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1
printf 'Once upon a time there was a robot. It counted stars every night.\n%.0s' {1..40} > text.txt
"$cli" make-model model.gguf --layers 1 --embd 64 --ff 128 --heads 2 --kv-heads 1 --vocab 300 --quiet > /dev/null
commands=(
    "inspect in.gguf" "inspect in.gguf --json --tensors" "advise --ram 16 --gguf in.gguf"
    "tokenize in.gguf hello" "quantize in.gguf out.gguf Q4_K_M --dry-run"
    "quantize in.gguf out.gguf Q4_K_M --quiet --allow-requantize"
    "perplexity in.gguf -f text.txt --ctx 16 --chunks 2" "generate in.gguf -p hi -n 4"
    "imatrix in.gguf -f text.txt -o im.dat --ctx 16 --chunks 1"
    "perplexity model.gguf --kl-base in.gguf" "quantize model.gguf out.gguf Q4_K_M --imatrix in.gguf --quiet"
    "perplexity model.gguf -f in.gguf --ctx 16 --chunks 2"
)
runs=0; bad=0
while IFS= read -r f; do
    cp "$corpus/$f" in.gguf
    for cmd in "${commands[@]}"; do
        runs=$((runs + 1))
        # shellcheck disable=SC2086
        timeout 60 "$cli" $cmd > out.txt 2> err.txt; rc=$?
        if [[ $rc -ne 0 && $rc -ne 1 ]]; then
            echo "exit $rc: $f: $cmd"; head -3 err.txt; bad=$((bad + 1))
        elif grep -q "Sanitizer\|runtime error" err.txt; then
            echo "sanitizer: $f: $cmd"; grep -m2 "ERROR\|runtime error" err.txt; bad=$((bad + 1))
        elif [[ $rc -eq 1 && $(grep -c '^error:' err.txt) -ne 1 ]]; then
            echo "not one error line: $f: $cmd"; head -3 err.txt; bad=$((bad + 1))
        fi
        rm -f out.gguf im.dat
    done
done < <(ls "$corpus" | shuf -n "$sample")
echo "$runs runs, $bad bad"
[[ $bad -eq 0 ]]
