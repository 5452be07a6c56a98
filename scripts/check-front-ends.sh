#!/usr/bin/env bash
# The front ends (the CLI in cli/, the Python module python/*.cpp, the benchmarks and the
# examples) use libinfoflow through its public headers only: include/infoflow/. A front end
# that includes a header of host/ or kernels/ couples itself to the library's insides,
# which can then no longer change freely; the compiler would not notice, because the CLI
# is built from the repository root. Exits 1 naming every offending line.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headers a front end may include with quotes: the public API, the CLI's own headers
# (from cli/ only, but for cli/run.hpp, the command line as one function, which the
# Python module calls for `python -m infoflow`), and the commit header the build
# generates for `train`'s run.json.
allowed='^(infoflow/|cli/|git_commit\.hpp$)'
status=0
while IFS= read -r file; do
  while IFS=: read -r line header; do
    if [[ ! $header =~ $allowed ]] ||
       { [[ $header == cli/* && $header != cli/run.hpp ]] && [[ $file != cli/* ]]; }; then
      echo "$file:$line: includes \"$header\": front ends include only include/infoflow/ headers" >&2
      status=1
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" | sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/' || true)
  # Angle brackets cannot reach around the rule: no <header> that lives in host/ or kernels/.
  while IFS=: read -r line header; do
    if [ -e "host/$header" ] || [ -e "kernels/$header" ] || [[ $header == host/* || $header == kernels/* ]]; then
      echo "$file:$line: includes <$header>, a library-internal header" >&2
      status=1
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*<' "$file" | sed 's/^\([0-9]*\):.*<\([^>]*\)>.*/\1:\2/' || true)
done < <(find cli python bench examples -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.h' \) | sort)
if [ $status -eq 0 ]; then
  echo "check-front-ends: cli/, python/, bench/ and examples/ include only public headers"
fi
exit $status
