#!/bin/bash
# Changed-block tracking: TRACK keeps a volume tracked with no set; CBT_GET
# since tracking began (SET_ID 0) and since a set's take report exactly the
# chunks written in between (64 KiB chunks); the generation stays while the
# volume stays tracked and changes once it was untracked; UNTRACK of a
# volume in a set keeps it tracked until the set goes.
# tier: full
# cost: 44
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"

modprobe brd rd_nr=2 rd_size=65536 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
load_module_04

wr() {	# CHUNK [COUNT_4K [OFFSET_4K]]: write into chunk CHUNK
	dd if=/dev/urandom of=/dev/ram0 bs=4k count="${2:-1}" seek=$(($1 * 16 + ${3:-0})) oflag=direct status=none ||
		fail "write to chunk $1"
}
ranges() {	# SET: the changed ranges of chunks 0..1023, one line
	"$NLCTL" cbt-get /dev/ram0 "$1" 0 1024 | awk '$1 == "range" { printf "%s+%s ", $2, $3 }'
}
gen() {
	"$NLCTL" volume-get /dev/ram0 | grep -o 'generation=[0-9a-f]*'
}

"$NLCTL" track /dev/ram0 || fail "TRACK"
g1=$(gen)
[ -n "$g1" ] || fail "no generation: $("$NLCTL" volume-get /dev/ram0)"
check_eq "$(ranges 0)" "" "changes right after TRACK"
wr 3 && wr 10 1 5 && wr 1023 1 15
check_eq "$(ranges 0)" "3+1 10+1 1023+1 " "changes since tracking"

take_set /dev/ram0 /dev/ram1 131072
check_eq "$(ranges "$SET")" "" "changes right after the take"
wr 0 32 && wr 500
check_eq "$(ranges "$SET")" "0+2 500+1 " "changes since the take"
check_eq "$(ranges 0)" "0+2 3+1 10+1 500+1 1023+1 " "changes since tracking, after the take"
check_eq "$(gen)" "$g1" "generation across a take"

# Untracking a volume in a set only drops the keep flag.
"$NLCTL" untrack /dev/ram0 || fail "UNTRACK"
"$NLCTL" volume-get | grep -q "name=ram0" || fail "volume untracked while in a set"
check_eq "$(ranges "$SET")" "0+2 500+1 " "changes since the take after UNTRACK"
"$NLCTL" destroy "$SET" || fail "destroy"
[ -z "$("$NLCTL" volume-get 2>&1)" ] ||
	fail "volume still tracked with no set and no keep flag: $("$NLCTL" volume-get 2>&1)"
"$NLCTL" track /dev/ram0 || fail "TRACK again"
check_ne "$(gen)" "$g1" "generation after a new TRACK"
check_eq "$(ranges 0)" "" "changes after a new TRACK"
"$NLCTL" untrack /dev/ram0 || fail "UNTRACK"
