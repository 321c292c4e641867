#!/usr/bin/env bash
# Mutation testing of one package, or of the modules a change touched (mutmut 3, pyproject.toml [tool.mutmut]).
#
#   experiments/test_quality/run_mutation.sh storage|sweep|data|training|nn|nnexp/<module>.py|'nnexp.<pattern>' ...
#   experiments/test_quality/run_mutation.sh --changed [REF]     # modules changed since REF (default: main)
#   experiments/test_quality/run_mutation.sh --again PACKAGE ...  # only the mutants the last run did not kill
#
# Runs from the checkout's root, one worker (CHILDREN=2: two), under nice -n 19 (NICE=0: normal priority), and ends
# with the count of each verdict and the survivors' names (experiments/test_quality/summarise.py).
# Install the tool first: pip install -e ".[mutation]". ./mutants (git-ignored) keeps mutmut's state: a
# second run re-tests only mutants whose function or tests changed; delete it to start again.
# Times of each package on 1 worker: experiments/test_quality/README.md.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage

module_glob() {   # nnexp/sweep/summary.py -> nnexp.sweep.summary.*  (mutmut's mutant names)
    local path=${1%.py}
    path=${path%/__init__}
    echo "${path//\//.}.*"
}

again=
if [ "$1" = "--again" ]; then
    again=1
    shift
fi
globs=()
if [ "$1" = "--changed" ]; then
    ref=${2:-main}
    while IFS= read -r file; do
        case "$file" in
            nnexp/nn/*|nnexp/training/*|nnexp/data/*|nnexp/sweep/summary.py|nnexp/sweep/side_by_side.py|nnexp/storage.py)
                [ -f "$file" ] && globs+=("$(module_glob "$file")") ;;
        esac
    done < <(git diff --name-only "$ref" -- 'nnexp/*.py')
    if [ ${#globs[@]} -eq 0 ]; then
        echo "no mutated module (pyproject.toml [tool.mutmut] only_mutate) changed since $ref"; exit 0
    fi
else
    for package in "$@"; do
        case "$package" in
            storage)  globs+=("nnexp.storage.*") ;;
            sweep)    globs+=("nnexp.sweep.summary.*" "nnexp.sweep.side_by_side.*") ;;   # the statistics of nnexp/sweep
            data|training|nn) globs+=("nnexp.$package.*") ;;
            nnexp/*.py) globs+=("$(module_glob "$package")") ;;
            nnexp.*) globs+=("$package") ;;   # mutmut's own names or patterns: 'nnexp.nn.optim.x_make_optimizer*'
            *) echo "unknown package $package"; usage ;;
        esac
    done
fi

names=("${globs[@]}")
if [ -n "$again" ]; then
    mapfile -t names < <(python experiments/test_quality/summarise.py --not-killed "${globs[@]}")
    if [ ${#names[@]} -eq 0 ]; then
        echo "the last run killed every mutant of ${globs[*]}"; exit 0
    fi
fi
echo "mutating: ${globs[*]} (${#names[@]} names or patterns)"
started=$(date +%s)
status=0
nice -n "${NICE:-19}" mutmut run --max-children "${CHILDREN:-1}" "${names[@]}" || status=$?
echo "mutmut run: exit $status, $(( $(date +%s) - started )) s wall clock"
python experiments/test_quality/summarise.py "${globs[@]}"
