/*
 * cowsnap.pml: a model of cowsnap's hold/drain/take protocol and of the
 * chunk state machine of the copy-on-write engine, for spin.  `make model'
 * (model/run) verifies it exhaustively and checks that each known-bad
 * variant below is caught.
 *
 * Keep it in step with the module.  What stands for what:
 *
 *   proctype write    one origin write: filter_write() or the hook's
 *                     fast_write() (the hold gate: count in inflight, then
 *                     look at hold), process_write(),
 *                     cs_cow_clear() (the lock-free pass),
 *                     cs_cow_advance() (start copies, park on a busy
 *                     chunk), the rerun from ready_work(), cs_submit_own() and
 *                     wio_end_io() (tracker.c, snapshot.c)
 *   proctype take     cs_set_take() (set.c) with cs_tracker_hold(),
 *                     cs_tracker_drain() (bounded: the timeout branch),
 *                     cs_tracker_add_snapshot() (the instant) and
 *                     cs_tracker_release_held() (tracker.c); cs_image_add()
 *   proctype cow      one copy, a cs_chunk's work: cow_read(), cow_store()
 *                     (targets picked with snap_needs(); storage full or an
 *                     I/O error: cs_set_invalidate()), cow_release() (the
 *                     origin writes parked on the chunk go on while the
 *                     copy is written to storage; released_covers() lets
 *                     later ones pass), cow_finish() (snapshot.c)
 *   proctype reader   one image read: cs_snapshot_read() (no lock, no
 *                     pin), its check of set->cause and set->dead at the
 *                     start, read_end() (the second look: the busy table
 *                     for a released copy, then the map, read_overtaken()
 *                     and read_fix(); the chunk taken from the copy's
 *                     pages, or read again from its slot,
 *                     read_again_work(); set->cause and set->dead again)
 *                     (snapshot.c)
 *   proctype iwrite   one write to a writable image (NI 1): cs_snapshot_write()
 *                     and iwrite_start() (the chunk already has a slot: to
 *                     it at once), else cs_cow_advance() with w->image (a
 *                     copy for the snapshot alone, parked on the busy chunk
 *                     like an origin write), ready_work(), then
 *                     cs_snapshot_write_go() (its check of set->cause and
 *                     set->dead, the slot's write) (snapshot.c)
 *   proctype admin    cs_set_destroy() (set.c; cs_tracker_remove_snapshot())
 *                     or a cs_set_invalidate() from elsewhere (the set's
 *                     other volume, origin deleted)
 *   inline unbusy     the end of cow_finish(): out of the busy table, then
 *                     chunk_done(); NEED() is snap_needs()
 *
 * Abstraction: one origin of NC chunks, under one set with one snapshot
 * (the take's hold, drain and release are loops over the set's volumes in
 * the module; rule 3, one instant for several volumes, is not modelled).
 * A chunk's data is a version number; a write writes its own version.
 * What the module does under cs_tracker.lock is one atomic step here (a
 * spinlock: nothing inside it waits); what it does without the lock (the
 * lock-free reads of hold, nlive and the maps, the I/O, set->cause and
 * set->dead) is
 * a step of its own, so that spin interleaves it.  Where the module takes
 * two steps that nothing could tell apart, they are one here, to keep the
 * state space small; each such place says why.  Spin's memory is
 * sequentially consistent: a barrier is the order of two steps, a missing
 * one is modelled by swapping them (COUNT_BEFORE_HOLD_CHECK).  Memory
 * allocation never fails (mempools).  A busy chunk's waiters are a bitmask
 * of writes; t->ready, another one that parked writes wait on.
 *
 * What is checked:
 *   Rule 1 (a snapshot is immutable): every image read that succeeds
 *     returns, for each chunk, the version the origin held at the instant
 *     of the take (assert(!stale)); and at the instant no write is between
 *     the gate and its completion (assert(drained)).
 *   Rule 2 (the origin never loses a write): every write reaches the origin
 *     and completes; none stays held or parked (a process that cannot end
 *     is an invalid end state for spin), nothing is left held or counted,
 *     and at the end the origin holds the last version written.  The write
 *     path has no failure branch to take: a failed copy invalidates the set.
 *   Writable images: an image read returns, for each chunk, the take's
 *     version or the image write's (IVER), never an origin write's; a read
 *     that starts after the image write succeeded returns IVER; the image
 *     write never reaches the origin, and once it succeeded no copy
 *     overwrites its slot (at the end the slot holds IVER unless the set
 *     went invalid or was destroyed).
 *   Chunks: an entry leaves the busy table (to be freed) only while it is
 *     still in it, so never twice (assert(busy[c]) in unbusy), and none is
 *     left in it at the end.
 *
 * The switches select known bugs (model/run verifies each must fail):
 *   RECHECK_AT_END=0           an image read trusts its check of set->cause
 *                              and set->dead made at its start: a write
 *                              let through uncopied by an invalidation or
 *                              a destroy meanwhile reaches the read as
 *                              success
 *   LOOK_AGAIN=0               an image read trusts what it read from the
 *                              origin without looking at the map again: a
 *                              write that the chunk's copy let go
 *                              overtakes it
 *   COUNT_BEFORE_HOLD_CHECK=0  cs_filter() looks at hold before its inflight
 *                              increment is visible (the smp_mb pair broken)
 *   RELEASE_ON_TIMEOUT=0       a take whose drain timed out returns without
 *                              releasing the writes it held
 *   PUBLISH_AFTER_COPY=0       an image write to a chunk without a slot
 *                              publishes the slot (s->map) before the copy
 *                              from the origin is in it: an origin write
 *                              then passes uncopied, and its data lands in
 *                              the slot
 *   MAP_BEFORE_BUSY=1          an image read's second look goes to the map
 *                              before the busy table: between the two, a
 *                              released copy is stored and leaves the
 *                              table, the read sees neither and returns the
 *                              origin's data, which a released write changed
 */

#ifndef RECHECK_AT_END
#define RECHECK_AT_END 1
#endif
#ifndef LOOK_AGAIN
#define LOOK_AGAIN 1
#endif
#ifndef COUNT_BEFORE_HOLD_CHECK
#define COUNT_BEFORE_HOLD_CHECK 1
#endif

#ifndef RELEASE_ON_TIMEOUT
#define RELEASE_ON_TIMEOUT 1
#endif
#ifndef PUBLISH_AFTER_COPY
#define PUBLISH_AFTER_COPY 1
#endif
#ifndef MAP_BEFORE_BUSY
#define MAP_BEFORE_BUSY 0
#endif

#define NC	2	/* chunks of the origin */
#define NW	3	/* origin writes */
#ifndef NR
#define NR	1	/* image reads: 1, or 2 (model/run --deep) */
#endif
#ifndef NI
#define NI	1	/* image writes (a writable set): 0 or 1 */
#endif
#define IWID	NW	/* the image write's bit in waiters[] and ready */
#define ICHUNK	1	/* the chunk it writes */
#define IVER	7	/* the version it writes: no origin write's */
#define NONE	255

/* the writes: chunks [wfirst, wlast], the version written, and the write
 * that must complete before this one is issued (NW: none) */
byte wfirst[NW], wlast[NW], wver[NW], wafter[NW];
/* write states (ghost): INGATE counted, not past the gate yet; PASSED past
 * the gate (hold seen clear, or released), not completed */
mtype = { IDLE, INGATE, HELD, PASSED, DONE };
mtype wst[NW];

/* the origin, and the snapshot's data */
byte origin[NC];
byte snapv[NC];		/* ghost: the origin at the instant of the take */
byte store[NC];		/* the chunk in the set's storage */
bool mapped[NC];	/* s->map holds the chunk's slot; in the module, its
			 * "copied" bit, set once the slot is visible */

/* the tracker */
byte inflight;		/* t->inflight */
bool hold;		/* t->hold */
byte held;		/* t->held, a bitmask of writes */
byte go;		/* held writes handed to process_write() by release_held */
bool live;		/* the snapshot is on t->snaps */
byte nlive;		/* t->nlive */
/* the busy table: at most one cs_chunk per chunk index */
bool busy[NC];		/* in t->busy: being copied */
/* its cs_chunk is released (cow_release()); with one snapshot, that is
 * also "the snapshot is one of its targets" (chunk_for()) */
bool released[NC];
byte pages[NC];		/* the old data its cs_chunk read */
byte waiters[NC];	/* bitmask of parked writes */
byte ready;		/* t->ready: woken writes, to be run again */

/* the set */
bool cause;		/* set->cause != 0: INVALID */
bool dead;		/* set->dead: destroyed */
bool taken;		/* the instant happened */
bool image;		/* the image disk exists */
bool takedone;

/* ghost: what has ended, for the checks at the end */
byte wdone, rdone, cows;
bool admindone;
byte iwdone;		/* image writes ended */
bool iwok;		/* the image write reached its slot */

/* filter_write()'s (or fast_write()'s) lock-free look at hold: past it, a write that saw no hold
 * is on its way to the origin (PASSED) */
#define GATE(h)	atomic { h = hold; if :: !h -> wst[id] = PASSED :: else fi }
#define NEED(c)	(live && !cause && !mapped[c])
#define BIT(i)	(1 << (i))

/* Take chunk c's entry out of the table (chunk_idle_locked()) to free it
 * (chunk_done()): it must still be there, or someone freed it before.  (An
 * entry allocated again for c meanwhile is not idle: it is copied or read.) */
inline unbusy(c, wake)
{
	assert(busy[c]);
	busy[c] = false;
	released[c] = false;
	pages[c] = 0;
	wake = waiters[c];
	waiters[c] = 0
}

/* released_covers(): a released copy of c holds what the snapshot needs
 * (it is one of the targets: a snapshot live after the pick is not
 * modelled, there is one take) */
#define COVERS(c)	released[c]

/*
 * cs_set_take() for a set of one volume.  The freeze is not modelled (the
 * filesystem's part); the hold is what makes the instant.
 */
proctype take()
{
	byte w, c, list;
	bool drained;

	/* cs_tracker_hold(): hold = true under the lock, then smp_mb() */
	hold = true;
	/* cs_tracker_drain(): wait_event_timeout(inflight == 0), bounded */
	if
	:: inflight == 0 ->
		/* the instant: cs_tracker_add_snapshot() under the lock.  Every
		 * write that passed the gate has completed: rule 1's "drained"
		 * (one still INGATE sees hold, and is held) */
		atomic {
			drained = true;
			for (w : 0 .. NW - 1) {
				drained = drained && wst[w] != PASSED
			}
			assert(drained);
			drained = false;
			for (c : 0 .. NC - 1) {
				snapv[c] = origin[c]
			}
			live = true;
			nlive = 1;
			taken = true
		}
	:: true ->	/* the deadline passed: -ETIMEDOUT, the take fails */
#if !RELEASE_ON_TIMEOUT
		takedone = true;
		goto failed;
#endif
		skip
	fi;
	/* cs_tracker_release_held(): the held writes go on, counted again; then
	 * the images (cs_image_add(), only for a taken set).  One step: no
	 * drain runs now that could tell the parts apart. */
	atomic {
		hold = false;
		list = held;
		held = 0;
		for (w : 0 .. NW - 1) {
			if
			:: list & BIT(w) ->
				inflight++;
				wst[w] = PASSED;
				go = go | BIT(w)
			:: else
			fi
		}
		list = 0;
		image = taken;
		takedone = true
	}
#if !RELEASE_ON_TIMEOUT
failed:
#endif
	skip
}

proctype write(byte id)
{
	byte c, blocked, started;
	bool h, parked, done, clear;

	/* filter_write() or fast_write(), once the write this one depends on (if any) completed:
	 * count the write, then look at hold; cs_tracker_hold() sets hold,
	 * then the drain reads inflight: one of the two sees the other */
#if COUNT_BEFORE_HOLD_CHECK
	atomic {
		wafter[id] == NW || wst[wafter[id]] == DONE;
		inflight++;
		wst[id] = INGATE
	}
	GATE(h);
#else
	atomic {
		wafter[id] == NW || wst[wafter[id]] == DONE;
		GATE(h)
	}
	inflight++;
#endif
	if
	:: h ->
		/* under the lock: still held?  Then on t->held, uncounted */
		atomic {
			if
			:: hold ->
				held = held | BIT(id);
				inflight--;
				wst[id] = HELD
			:: else ->
				h = false;
				wst[id] = PASSED
			fi
		}
	:: else
	fi;
	/* process_write() looks at nlive without the lock; a held write does
	 * so once cs_tracker_release_held() counted it again and let it go */
	if
	:: h ->
		atomic {
			go & BIT(id);
			go = go & ~BIT(id);
			done = nlive == 0;
			c = wfirst[id]
		}
	:: else ->
		atomic {
			done = nlive == 0;
			c = wfirst[id]
		}
	fi;

	/* cs_cow_clear(): the lock-free pass.  Without the lock, every
	 * chunk's need of a copy (the maps, set->cause, the list of live
	 * snapshots): nothing needed sends w to the origin, else to
	 * cs_cow_advance().  One step: a chunk's map entry, once there, stays
	 * while the snapshot lives, and the chunks are independent */
	if
	:: !done ->
		clear = true;
		atomic {
			for (c : wfirst[id] .. wlast[id]) {
				clear = clear && !NEED(c)
			}
		}
		atomic { done = clear; clear = false; c = wfirst[id] }
	:: else
	fi;

	/* cs_cow_advance(): a pass over the chunks from w->next (c) under the
	 * lock; again after starting copies, and when parked, once
	 * chunk_done() -> cs_tracker_write_ready() -> ready_work() runs it */
	do
	:: done -> break
	:: atomic {
		!done && (!parked || (ready & BIT(id))) ->
		ready = ready & ~BIT(id);
		parked = false;
		blocked = NONE;
		started = 0;
		for (c : c .. wlast[id]) {
			if
			:: !busy[c] && !NEED(c) ->
				skip	/* nothing to copy or to wait for */
			:: busy[c] && COVERS(c) ->
				skip	/* copy released: its pages hold the data */
			:: else ->
				if
				:: !busy[c] ->
					/* a new cs_chunk; cow_start() */
					busy[c] = true;
					started++;
					cows++;
					run cow(c)
				:: else	/* being copied: wait */
				fi;
				if
				:: blocked == NONE -> blocked = c
				:: else
				fi
			fi
		}
		/* park on the first chunk to wait for (w->next), unless copies
		 * were started: they run first (cow_read()), the next pass parks */
		if
		:: blocked == NONE -> done = true
		:: else ->
			c = blocked;
			if
			:: started == 0 ->
				waiters[c] = waiters[c] | BIT(id);
				parked = true
			:: else
			fi
		fi
	   }
	od;

	/* cs_submit_own(): the origin write.  Its completion, wio_end_io(),
	 * is the same step: only a drain could tell them apart, and it waits
	 * for the completion. */
	atomic {
		for (c : wfirst[id] .. wlast[id]) {
			origin[c] = wver[id]
		}
		c = 0; blocked = 0; started = 0; h = false; done = false;
		inflight--;
		wst[id] = DONE;
		wdone++
	}
}

/* A copy of chunk c: cow_read(), cow_store(), cow_finish(). */
proctype cow(byte c)
{
	byte wake;

	/* cow_read() into the pages, cow_store() (pick the live snapshots
	 * that still need the chunk, under the lock; no slot: invalid) and
	 * cow_release() (the origin writes parked on the chunk go on; image
	 * writes wait on), as one step: until the release no write to the
	 * chunk can pass (every one waits: the assertions of rule 1 check
	 * that), so the origin cannot change in between, and a reader that
	 * looks meanwhile finds the chunk neither released nor mapped, as
	 * before the step. */
	atomic {
		if
		:: NEED(c) ->
			if
			:: pages[c] = origin[c];
				released[c] = true;
				ready = ready | (waiters[c] & ~BIT(IWID));
				waiters[c] = waiters[c] & BIT(IWID)
			:: cause = true	/* no slot: invalid */
			fi
		:: else
		fi
	}
	/* the storage writes end; cow_finish() stores into s->map (an I/O
	 * error: invalid).  Nothing reads store[c] unless mapped[c]. */
	atomic {
		if
		:: released[c] ->
			if
			:: store[c] = pages[c];
				mapped[c] = true
			:: cause = true
			fi
		:: else
		fi
	}
	/* cow_finish(), after the maps: out of the busy table, and
	 * chunk_done() wakes the waiters (ready_work() continues them) and
	 * frees the entry */
	atomic {
		unbusy(c, wake);
		ready = ready | wake;
		cows--
	}
}

/* what a read of chunk c from its slot returns that it must not: not the
 * take's data nor the image write's, or not the image write's once that
 * had succeeded when the read started */
#define STALE_SLOT(c)	((store[c] != snapv[c] && store[c] != IVER) || \
			 (sawok && c == ICHUNK && store[c] != IVER))

/* An image read of chunks [first, last]: cs_snapshot_read(). */
proctype reader(byte first; byte last)
{
	byte c, got;
	bool fromorigin, stale, sawok, inpages, inmap;

	atomic {
		takedone;
		sawok = iwok;
		if
		:: !image -> goto out	/* the take failed: no image */
		:: cause || dead -> goto eio
		:: else
		fi
	}
	for (c : first .. last) {
		/* No lock: a chunk in s->map is read from storage (it never
		 * moves; the read is this same step), any other from the
		 * origin, in a step of its own */
		atomic {
			if
			:: mapped[c] -> stale = stale || STALE_SLOT(c)
			:: else -> fromorigin = true
			fi
		}
		if
		:: fromorigin ->
			got = origin[c];
			/* read_end(), after the data: the second look.  The busy
			 * table under the lock: a copy released for the snapshot
			 * gives the data from its pages (read_fix()).  Then the
			 * map: a chunk copied meanwhile is read again from its
			 * slot (read_again_work(), later: the slot holds the copy
			 * or the image write by then, as now).  Else the data must
			 * be what the chunk held at the take */
#if LOOK_AGAIN && !MAP_BEFORE_BUSY
			atomic {
				inpages = released[c];
				if
				:: inpages ->
					stale = stale || pages[c] != snapv[c] || (sawok && c == ICHUNK)
				:: else
				fi
			}
			atomic {
				if
				:: inpages -> skip
				:: !inpages && mapped[c] -> stale = stale || STALE_SLOT(c)
				:: else -> stale = stale || got != snapv[c] || (sawok && c == ICHUNK)
				fi;
				fromorigin = false;
				inpages = false;
				got = 0
			}
#elif LOOK_AGAIN
			/* the bug: the map first, then the busy table */
			atomic {
				inmap = mapped[c];
				if
				:: inmap -> stale = stale || STALE_SLOT(c)
				:: else
				fi
			}
			atomic {
				if
				:: inmap -> skip
				:: !inmap && released[c] ->
					stale = stale || pages[c] != snapv[c] || (sawok && c == ICHUNK)
				:: else -> stale = stale || got != snapv[c] || (sawok && c == ICHUNK)
				fi;
				fromorigin = false;
				inmap = false;
				got = 0
			}
#else
			atomic {
				stale = stale || got != snapv[c] || (sawok && c == ICHUNK);
				fromorigin = false;
				got = 0
			}
#endif
		:: else
		fi
	}
	/* the parent bio completes */
	atomic {
#if RECHECK_AT_END
		/* a write that went through uncopied while the read ran was
		 * let through by the set's invalidation or destruction, which
		 * shows here */
		if
		:: cause || dead -> goto eio
		:: else
		fi;
#endif
		/* success: rule 1 */
		assert(!stale);
		goto out
	}
eio:
	skip;
out:
	rdone++
}

/*
 * A write of IVER to chunk ICHUNK of the image (the set is writable).  With
 * a slot for the chunk it goes there at once (all_copied()); without one it
 * takes the chunk in the busy table like an origin write (a copy for the
 * snapshot alone: NEED() is that snapshot's here), parks while the chunk
 * is copied, and goes to the slot once the copy is in
 * it.  Its own data is never copied, and never reaches the origin.
 */
proctype iwrite()
{
	byte c = ICHUNK, wake;
	bool parked, done, started;

	atomic {
		takedone;
		if
		:: !image -> goto out	/* the take failed: no image to write */
		:: cause || dead -> goto out	/* EIO */
		:: else -> done = mapped[c]
		fi
	}
#if PUBLISH_AFTER_COPY
	do
	:: done -> break
	:: atomic {
		!done && (!parked || (ready & BIT(IWID))) ->
		ready = ready & ~BIT(IWID);
		parked = false;
		started = false;
		if
		:: !busy[c] && !NEED(c) -> done = true
		:: !busy[c] && NEED(c) ->
			busy[c] = true;
			started = true;
			cows++;
			run cow(c)
		:: else
		fi;
		/* a copy started runs first; the next pass parks if need be */
		if
		:: !done && !started ->
			waiters[c] = waiters[c] | BIT(IWID);
			parked = true
		:: else
		fi
	   }
	od;
#else
	/* the bug: the slot published first, the origin's chunk copied in
	 * after, in a step of its own */
	if
	:: !done ->
		atomic { mapped[c] = true };
		atomic { store[c] = origin[c] }
	:: else
	fi;
#endif
	/* cs_snapshot_write_go(): counted in the set's copies, then cause and
	 * dead; no slot (the set went invalid meanwhile): EIO */
	atomic {
		if
		:: cause || dead || !mapped[c] -> skip
		:: else ->
			store[c] = IVER;
			iwok = true
		fi;
		c = 0; parked = false; done = false; started = false; wake = 0
	}
out:
	iwdone++
}

/* cs_set_destroy() or an invalidation from elsewhere, at any moment after
 * the take (destroy holds cs_lock, so it comes after the whole take) */
proctype admin()
{
	if
	:: image ->
		dead = true;
		/* cs_tracker_remove_snapshot(): copies may be in flight */
		atomic {
			if
			:: live -> live = false; nlive--
			:: else
			fi
		}
	:: taken -> cause = true
	:: true
	fi;
	admindone = true
}

init {
	byte c;

	atomic {
		/* w0 spans both chunks; w1 races it on chunk 1; w2 rewrites
		 * chunk 0 once w0 has completed */
		wfirst[0] = 0; wlast[0] = 1; wver[0] = 1; wafter[0] = NW;
		wfirst[1] = 1; wlast[1] = 1; wver[1] = 2; wafter[1] = NW;
		wfirst[2] = 0; wlast[2] = 0; wver[2] = 3; wafter[2] = 0;
		wst[0] = IDLE; wst[1] = IDLE; wst[2] = IDLE;
		run take();
		run admin();
		run write(0);
		run write(1);
		run write(2);
		run reader(0, 1);
#if NI > 0
		run iwrite();
#endif
#if NR > 1
		/* a second read of chunk 1 beside the first */
		run reader(1, 1);
#endif
		skip
	}
	/* everything ended (an invalid end state otherwise) */
	wdone == NW && rdone == NR && iwdone == NI && takedone && admindone && cows == 0;
	/* rule 2: the origin holds the last version written to each chunk */
	assert(origin[0] == 3);
	assert(origin[1] == 1 || origin[1] == 2);
	/* the image write kept its slot (no copy came over it) */
	assert(!iwok || cause || dead || (mapped[ICHUNK] && store[ICHUNK] == IVER));
	/* nothing is left held, counted, parked or busy */
	assert(!hold);
	assert(held == 0 && go == 0);
	assert(inflight == 0 && ready == 0);
	for (c : 0 .. NC - 1) {
		assert(!busy[c] && waiters[c] == 0 && !released[c])
	}
}
