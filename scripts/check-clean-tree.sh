#!/usr/bin/env bash
# Runs a command (`npm test` runs the test suite through it) and fails when the command leaves new or
# changed paths in the working tree. It lists the tree with `git status --porcelain --ignored
# --untracked-files=all` (ignored and untracked files one by one) before and after the command and
# reports every line that was not there before: a new file, ignored or not, a changed or deleted
# tracked file. node_modules/ and native/build/ (which scripts/setup.sh creates) are left out, and so
# is anything listed before the command ran, so a tree that is already dirty does not fail by itself.
#
#   bash scripts/check-clean-tree.sh CMD [ARGS...]
#
# Exit status: the command's when it failed; else 1 when it left paths behind; else 0. Outside a git
# work tree (an unpacked archive) the command runs unchecked.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
  echo "usage: bash scripts/check-clean-tree.sh CMD [ARGS...]" >&2
  exit 2
fi
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "check-clean-tree: not a git work tree; running the command unchecked" >&2
  exec "$@"
fi

snapshot() {
  git status --porcelain=v1 --ignored --untracked-files=all -- . ':(exclude)node_modules' ':(exclude)native/build' |
    LC_ALL=C sort
}

before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
if ! snapshot >"$before"; then
  echo "check-clean-tree: git status failed" >&2
  exit 2
fi

"$@"
rc=$?

snapshot >"$after"
left=$(LC_ALL=C comm -13 "$before" "$after")
if [ -n "$left" ]; then
  {
    echo
    echo "check-clean-tree: the run left these paths in the working tree (git status; tests must write to a temporary folder; a run of yours writing into the tree at the same time shows here too):"
    echo "$left" | sed 's/^/  /'
  } >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
