#!/usr/bin/env bash
# The study of experiments/search/: the grid, random search, TPE, ASHA + random and ASHA + TPE over the
# same space of 3 keys (48 grid points), 5 search seeds per search method, one job at a time.
#
#     MNIST=path/to/mnist experiments/search/run_study.sh OUT   (from the repository root; OUT outside it)
#     python experiments/search/analyze.py OUT     (the tables and figures of experiments/search/)
#
# Each sweep goes to OUT/<method>_<seed> (the grid to OUT/grid) with its own epoch store
# OUT/reuse_<method>_<seed>, so that no method is handed another's epochs. Needs full MNIST in the folder
# MNIST names (MNIST=path/to/mnist experiments/search/run_study.sh OUT) and the search extra
# (pip install -e ".[search]").
set -euo pipefail
OUT=${1:?usage: experiments/search/run_study.sh OUT (a directory outside the repository)}
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"     # this checkout's nnexp

MNIST=${MNIST:?set MNIST to the folder of the MNIST files: MNIST=path/to/mnist experiments/search/run_study.sh OUT}
COMMON=(data=mnist data.dir="$MNIST" data.train_size=10000 threads=1 epochs=27
        hydra.callbacks.report.gif_frames=0)
HIDDEN='model.hidden=[32],[64],[128],[256]'
BATCH=batch_size=1,16
FULL_TRIALS=16     # random and TPE at the full budget: 16 x 27 = 432 epochs, a third of the grid's 1,296
ASHA_TRIALS=81     # ASHA, eta 3, rungs 1, 3, 9, 27 epochs

run() {   # name, then the command's arguments; logs to OUT/<name>.log, times to OUT/times.csv
    local name=$1; shift
    local start=$(date +%s.%N)
    nice -n 5 python -m nnexp -m "$@" hydra.sweep.dir="$OUT/$name" > "$OUT/$name.log" 2>&1
    echo "$name,$start,$(date +%s.%N)" >> "$OUT/times.csv"
}

mkdir -p "$OUT"
[ -d "$OUT/grid" ] || run grid "${COMMON[@]}" lr=0.003,0.01,0.03,0.1,0.3,1 "$HIDDEN" $BATCH \
    reuse_dir="$OUT/reuse_grid"
for seed in 0 1 2 3 4; do
    for method in random tpe asha_random asha_tpe; do
        [ -d "$OUT/${method}_$seed" ] && continue
        case $method in
            random)      settings=(hydra.sweeper.sampler=random hydra.sweeper.scheduler=none hydra.sweeper.n_trials=$FULL_TRIALS) ;;
            tpe)         settings=(hydra.sweeper.sampler=tpe hydra.sweeper.scheduler=none hydra.sweeper.n_trials=$FULL_TRIALS) ;;
            asha_random) settings=(hydra.sweeper.sampler=random hydra.sweeper.scheduler=asha hydra.sweeper.n_trials=$ASHA_TRIALS) ;;
            asha_tpe)    settings=(hydra.sweeper.sampler=tpe hydra.sweeper.scheduler=asha hydra.sweeper.n_trials=$ASHA_TRIALS) ;;
        esac
        run "${method}_$seed" hydra/sweeper=search "${COMMON[@]}" 'lr=tag(log, interval(0.003, 1))' "$HIDDEN" $BATCH \
            "${settings[@]}" hydra.sweeper.eta=3 hydra.sweeper.seed=$seed reuse_dir="$OUT/reuse_${method}_$seed"
    done
done

# Each search's report again, its trace beside the grid's best (search_trace.png)
for sweep in "$OUT"/random_* "$OUT"/tpe_* "$OUT"/asha_random_* "$OUT"/asha_tpe_*; do
    if [ -f "$sweep/search.csv" ]; then nice -n 5 python -m nnexp.report "$sweep" --vs "$OUT/grid" > /dev/null; fi
done
