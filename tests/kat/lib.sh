# Shared by tests/kat.sh (the engine) and tests/kat_oracle.sh (ref.py).
# The caller sets $kat (the tests/kat directory) and defines
# run_group G TMP, which runs the rating of group G with $period and the
# array files, writing into TMP/out, and returns the run's exit code
# (99: it could not even start, e.g. the catalog did not load).
# shellcheck shell=bash
# period and files are read by the caller's run_group; kat is the caller's.
# shellcheck disable=SC2034,SC2154

period=''  # the group's period, for run_group
files=()   # the group's input files, as written in its args, for run_group

kat_groups() {
	local d
	for d in "$kat"/*/; do
		d=${d%/}
		[ -f "$d/args" ] && echo "${d##*/}"
	done
}

# kat_check G: run group G and compare; 0 when it passes.
kat_check() {
	local g=$1 tmp rc want f name bad=0
	if [ ! -f "$kat/$g/args" ] || [ ! -f "$kat/$g/expected/exit" ]; then
		echo "kat: $g: no such group (args, expected/exit)" >&2
		return 1
	fi
	read -r period rest <"$kat/$g/args"
	# shellcheck disable=SC2206 # file names are words, as written in args
	files=($rest)
	want=$(tr -d ' \n' <"$kat/$g/expected/exit")
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kat.XXXXXX")
	run_group "$g" "$tmp"
	rc=$?
	if [ "$rc" = 99 ]; then
		bad=1
	elif [ "$rc" != "$want" ]; then
		echo "kat: $g: exit $rc, expected $want" >&2
		sed 's/^/    /' "$tmp/rate.log" >&2
		bad=1
	elif [ "$want" = 0 ]; then
		for f in "$kat/$g"/expected/*; do
			name=${f##*/}
			[ "$name" = exit ] && continue
			if [ ! -f "$tmp/out/$name" ]; then
				echo "kat: $g: $name was not written" >&2
				bad=1
			elif ! cmp -s "$f" "$tmp/out/$name"; then
				echo "kat: $g: $name differs (< expected, > got):" >&2
				diff -a "$f" "$tmp/out/$name" | head -n 40 >&2
				bad=1
			fi
		done
	else
		# A refused run changes no output.
		for f in "$tmp"/out/rated.csv "$tmp"/out/rejects.csv \
			"$tmp"/out/invoices-* "$tmp"/out/summary.json; do
			if [ -e "$f" ]; then
				echo "kat: $g: exit $rc but ${f##*/} was written" >&2
				bad=1
			fi
		done
	fi
	rm -rf "$tmp"
	return $bad
}

kat_main() {
	local g pass=0 fail=0 groups
	if [ $# -gt 0 ]; then
		groups=("$@")
	else
		mapfile -t groups < <(kat_groups)
	fi
	for g in "${groups[@]}"; do
		if kat_check "$g"; then
			echo "kat: $g ok"
			pass=$((pass + 1))
		else
			echo "kat: $g FAIL"
			fail=$((fail + 1))
		fi
	done
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
}
