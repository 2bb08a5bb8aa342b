# tests/vm/04-helpers.bash: helpers of the module's own tests (04NN-*.sh),
# sourced after lib.sh.  Not a test itself.
#
#   take_set DEV STORAGE_DEV STORAGE_SECTORS [set-new options]
#                     define and take a set over DEV in one nlctl session;
#                     the set (not auto-release) outlives the session; its id
#                     in $SET, its image in $IMG
#   eio DEV           a direct read of DEV must fail with EIO

load_module_04() {
	load_module "$@"
	on_exit unload_module
	on_exit "for s in \$(\"$NLCTL\" get 2>/dev/null | awk '\$1 == \"set\" { print \$2 }'); do \"$NLCTL\" destroy \$s > /dev/null 2>&1; done"
}

take_set() {
	local dev=$1 st=$2 len=$3 out
	shift 3
	out=$(printf '%s\n' "set-new $*" "add-volume LAST $dev" \
		"add-storage LAST $st 0 $len" "take LAST" | sed "s/LAST/$((${LAST_SET:-0} + 1))/" |
		"$NLCTL" session 2>&1) || true
	LAST_SET=$((${LAST_SET:-0} + 1))
	SET=$LAST_SET
	grep -q "^done [^0]" <<< "$out" && fail "take_set $dev: $out"
	IMG=$(vol_field "$SET" image)
	[ -n "$IMG" ] || fail "set $SET has no image: $("$NLCTL" get "$SET")"
	wait_for 10 test -b "$IMG" || fail "$IMG did not appear"
}

eio() {
	local out
	if out=$(dd if="$1" of=/dev/null bs=64k count=16 iflag=direct 2>&1); then
		fail "reading $1 succeeded, expected EIO"
	fi
	grep -q "Input/output error" <<< "$out" || fail "reading $1 failed, but not with EIO: $out"
}
