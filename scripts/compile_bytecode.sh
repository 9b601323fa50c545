#!/bin/sh
# Compile a built Lambda artefact's Python sources to CPython 3.13 bytecode, for the layer and function
# Makefiles that `sam build` runs (BuildMethod: makefile).
#
#   scripts/compile_bytecode.sh DIR RUNTIME_DIR
#     DIR          the folder to compile, e.g. "$(ARTIFACTS_DIR)/python"
#     RUNTIME_DIR  where DIR's content lives on Lambda (/opt/python, /var/task): the path recorded in the
#                  bytecode, so that the artefact does not depend on where it was built
#
# Lambda mounts layers (/opt) and function code (/var/task) read-only, so without shipped bytecode every
# cold start compiles each module it imports from source (the layer has some 900, botocore and Powertools
# among them) and throws the result away. The interpreter is the first CPython 3.13 of: $LAMBDA_PYTHON,
# python3.13 on PATH, a pyenv 3.13 ($PYENV_ROOT or ~/.pyenv). Bytecode is version-specific, but stable
# within 3.13.x, so any 3.13 release does. Without one, the artefact ships without bytecode (a WARNING, not
# a failure).
set -eu

dir=${1:?usage: compile_bytecode.sh DIR RUNTIME_DIR}
runtime_dir=${2:?usage: compile_bytecode.sh DIR RUNTIME_DIR}

# Prints the interpreter's version when it is CPython 3.13; fails otherwise (a pyenv shim for a version
# that is not selected is on PATH but fails to run).
cpython313() {
	"$1" -c 'import sys; ok = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 13); print(sys.version.split()[0]); sys.exit(0 if ok else 1)' 2>/dev/null
}

python=""
if [ -n "${LAMBDA_PYTHON:-}" ]; then
	if ! version=$(cpython313 "$LAMBDA_PYTHON"); then
		echo "ERROR: LAMBDA_PYTHON=$LAMBDA_PYTHON is not a CPython 3.13 interpreter${version:+ (it is $version)}" >&2
		exit 1
	fi
	python=$LAMBDA_PYTHON
else
	for candidate in python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
		if version=$(cpython313 "$candidate"); then
			python=$candidate
			break
		fi
	done
fi

# pip and earlier builds may have left bytecode of the build machine's Python (cpython-311): useless on
# Lambda, so it goes whatever happens next.
find "$dir" -name __pycache__ -type d -prune -exec rm -rf {} +

if [ -z "$python" ]; then
	echo "WARNING: no CPython 3.13 found: $dir ships without bytecode, so Lambda cold starts will be slower" \
		"(every import compiled from source). Set LAMBDA_PYTHON=/path/to/python3.13 or install python3.13."
	exit 0
fi

# unchecked-hash: the artefact is immutable and read-only on Lambda, so checking each source against its
# bytecode (timestamp or hash) at import is useless work, and timestamps need not survive the zip anyway.
"$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$dir" -p "$runtime_dir" "$dir"
# Only cpython-313 bytecode is of use to Lambda (no optimised .opt-N.pyc either: Lambda runs without -O).
find "$dir" -path '*/__pycache__/*' -name '*.pyc' ! -name '*.cpython-313.pyc' -delete
echo "bytecode: $dir compiled with CPython $version ($python)"
