#!/usr/bin/env bash
# Every C source and header of the tree is formatted with the tree's .clang-format.
command -v clang-format >/dev/null || { echo "clang-format missing"; exit 77; }
cd "${CLEAVE_SRC:?}" || exit 1
bad=0
n=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*'); do
    n=$((n + 1))
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run clang-format -i $f)"
        bad=$((bad + 1))
    fi
done
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
