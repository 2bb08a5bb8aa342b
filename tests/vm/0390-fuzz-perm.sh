#!/bin/bash
# Issue 3, must hold 9: bad input.  100,000 malformed generic-netlink
# messages (random commands, attribute types, lengths, nesting, truncated
# headers) get only well-formed answers, the module keeps answering, and
# the kernel log stays clean (the runner checks dmesg).  Every command the
# module implements, with and without attributes, from a process without
# CAP_SYS_ADMIN (nobody, and root with CAP_SYS_ADMIN dropped) gets EPERM.
# tier: once
# cost: 98
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

brd 2 16
load_module_03
ops=$("$NLCTL" ops)
note "commands implemented: $(echo $ops)"

# --- fuzz, as root, with a volume tracked and a set taken, so that ids and
# devices the fuzzer hits now and then exist ---
if grep -qx SET_TAKE <<< "$ops"; then
	sess_start
	new_set --persistent
	s add-volume "$SET" /dev/ram0
	s add-storage "$SET" /dev/ram1 0 $((16 * 2048))
	s take "$SET"
	sess_kill
fi
seed=${COWSNAP_FUZZ_SEED:-$(date +%s)}
count=${COWSNAP_FUZZ_COUNT:-100000}
timeout 150 "$NLCTL" fuzz --count "$count" --seed "$seed" > "$T/fuzz" 2>&1 ||
	fail "fuzz (seed $seed): $(tail -n 5 "$T/fuzz")"
while read -r line; do note "$line"; done < "$T/fuzz"
sent=$(sed -n 's/^fuzz sent=\([0-9]*\) .*/\1/p' "$T/fuzz")
[ "$sent" -ge "$count" ] || fail "fuzz sent only $sent messages"
errors=$(sed -n 's/^fuzz .* errors=\([0-9]*\) .*/\1/p' "$T/fuzz")
# nlctl fuzz already failed if a request with a sure defect was accepted.
grep -q "malformed_accepted=0" "$T/fuzz" || fail "fuzz: malformed requests accepted: $(cat "$T/fuzz")"
[ "$errors" -gt $((count / 2)) ] || fail "fuzz: only $errors errors of $sent"
out=$("$NLCTL" version) || fail "module does not answer after fuzzing"
check_eq "$out" "$(cat "$TOP/VERSION") 1" "version after fuzzing"
if grep -qx SET_GET <<< "$ops"; then
	"$NLCTL" get > "$T/sets" || fail "SET_GET dump fails after fuzzing"
	# The fuzzer's own DEFINING sets died with its socket.
	if grep -q "state=DEFINING" "$T/sets"; then
		fail "a DEFINING set outlived the fuzzer's socket: $(cat "$T/sets")"
	fi
fi

# --- EPERM for every implemented command ---
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nocap() { setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin "$@"; }
num=0
for name in GET_VERSION SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_DESTROY \
	SET_GET VOLUME_GET TRACK UNTRACK CBT_GET; do
	num=$((num + 1))
	if ! grep -qx "$name" <<< "$ops"; then
		note "$name not implemented yet: EPERM not checked"
		continue
	fi
	for who in nobody nocap; do
		expect_rc 1 "$who" "$NLCTL" raw "$num"
		case $name in
		SET_GET|VOLUME_GET) expect_rc 1 "$who" "$NLCTL" raw "$num" --dump ;;
		esac
	done
done
# The same with well-formed attributes.
id=${SET:-1}
for who in nobody nocap; do
	for cmd in "set-new" "set-new --persistent" "add-volume $id /dev/ram0" \
		"add-storage $id /dev/ram1 0 8" "take $id" "destroy $id" "get $id" "get" \
		"volume-get" "track /dev/ram0" "untrack /dev/ram0" "cbt-get /dev/ram0 $id 0 8"; do
		rc=0
		"$who" "$NLCTL" $cmd > "$T/out" 2>&1 || rc=$?
		case $rc in
		1) ;;
		95) grep -qx "$(echo "$cmd" | awk '{ print $1 }' | sed 's/set-new/SET_NEW/;s/add-volume/SET_ADD_VOLUME/;s/add-storage/SET_ADD_STORAGE/;s/take/SET_TAKE/;s/destroy/SET_DESTROY/;s/^get$/SET_GET/;s/volume-get/VOLUME_GET/;s/untrack/UNTRACK/;s/^track$/TRACK/;s/cbt-get/CBT_GET/')" <<< "$ops" &&
			fail "$who: nlctl $cmd: EOPNOTSUPP for an implemented command" ;;
		*) fail "$who: nlctl $cmd: exit $rc, expected EPERM: $(cat "$T/out")" ;;
		esac
	done
done
# Fuzzing without the capability: never a success.
nobody "$NLCTL" fuzz --count 5000 --seed "$seed" --expect-errno 1 > "$T/fuzz" 2>&1 ||
	fail "fuzz as nobody: $(tail -n 5 "$T/fuzz")"
note "as nobody: $(head -n 2 "$T/fuzz" | tail -n 1)"
# The set taken before fuzzing is intact.
if [ -n "${SET:-}" ]; then
	check_eq "$(set_field "$SET" state)" TAKEN "set after fuzzing"
fi
