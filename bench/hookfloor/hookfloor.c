// SPDX-License-Identifier: GPL-2.0
/*
 * cs_hookfloor: what the interception alone costs, for the benchmark.
 *
 * An ftrace ops on submit_bio_noacct() with the flags cowsnap's own write
 * hook uses (module/tracker.c, submit_ops), whose callback does what every
 * call of cowsnap's does before it looks for a tracker: read the bio from
 * the first argument, look at its op, and for a write whether the call
 * came from this module's text.  It
 * counts the writes it sees (per CPU, read at unload) and changes nothing.
 * bench/guest-io.bash loads it to time writes and reads with the hook
 * attached and nothing tracked: the floor under cowsnap's tracked path.
 *
 * With count=1 it also does what cowsnap must do for every write to a
 * tracked volume, so that a take can wait for the writes in flight: a
 * record per write (end_io and private kept in it), the bio's end_io
 * swapped for its own, a shared in-flight count raised at submission and
 * dropped at completion, where the bio gets its own end_io back and goes
 * through bio_endio() again.  The record comes from a per-CPU list before
 * a slab cache, with preemption off and no interrupts turned off, as
 * cowsnap's do (module/tracker.c, wio_stash_get()): the cheapest record
 * this module knows.  No lookup, no changed-block map, no chunk table: the
 * floor of a filter that counts writes until they complete.  Built with
 * the module for every kernel (make), never installed.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/wait.h>

static bool count;
module_param(count, bool, 0444);
MODULE_PARM_DESC(count, "count every write until it completes, as a tracked volume's are");

static DEFINE_PER_CPU(unsigned long, writes_seen);

struct floor_rec {
	bio_end_io_t *end_io;
	void *private;
	struct floor_rec *next;		/* on a CPU's free list */
};

static struct kmem_cache *rec_cache;
static atomic_t inflight = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(inflight_wq);

/*
 * Free records per CPU, at most FREE_MAX: pushed from any context, popped
 * only in task context with preemption off (so no pop interrupts a pop),
 * both with this_cpu_cmpxchg(), which an interrupt cannot split.
 */
#define FREE_MAX	64
static DEFINE_PER_CPU(struct floor_rec *, free_head);
static DEFINE_PER_CPU(int, free_n);

static struct floor_rec *rec_get(void)
{
	struct floor_rec *r;

	if (in_task()) {
		do {
			r = this_cpu_read(free_head);
			if (!r)
				goto slab;
		} while (this_cpu_cmpxchg(free_head, r, r->next) != r);
		this_cpu_dec(free_n);
		return r;
	}
slab:
	return kmem_cache_alloc(rec_cache, GFP_NOWAIT | __GFP_NOWARN);
}

/* preemption off */
static void rec_put(struct floor_rec *r)
{
	struct floor_rec *h;

	if (this_cpu_read(free_n) >= FREE_MAX) {
		kmem_cache_free(rec_cache, r);
		return;
	}
	do {
		h = this_cpu_read(free_head);
		r->next = h;
	} while (this_cpu_cmpxchg(free_head, h, r) != h);
	this_cpu_inc(free_n);
}

static void floor_end_io(struct bio *bio)
{
	struct floor_rec *r = bio->bi_private;

	bio->bi_end_io = r->end_io;
	bio->bi_private = r->private;
	preempt_disable();
	rec_put(r);
	if (atomic_dec_and_test(&inflight) && waitqueue_active(&inflight_wq))
		wake_up_all(&inflight_wq);
	preempt_enable();
	bio_endio(bio);
}

/* a write that is not counted yet: counted until it completes */
static void floor_count(struct bio *bio)
{
	struct floor_rec *r;

	if (bio->bi_end_io == floor_end_io)
		return;
	preempt_disable();
	r = rec_get();
	preempt_enable();
	if (!r)
		return;
	atomic_inc(&inflight);
	smp_mb__after_atomic();	/* what cowsnap's hold gate pays, nothing to pair with */
	r->end_io = bio->bi_end_io;
	r->private = bio->bi_private;
	bio->bi_end_io = floor_end_io;
	bio->bi_private = r;
}

static void notrace floor_hook(unsigned long ip, unsigned long parent_ip,
			       struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct bio *bio = (struct bio *)ftrace_regs_get_argument(fregs, 0);

	if (!op_is_write(bio_op(bio)) || cs_own_text(parent_ip))
		return;
	this_cpu_inc(writes_seen);
	if (count)
		floor_count(bio);
}

static struct ftrace_ops floor_ops = {
	.func = floor_hook,
	.flags = CS_FTRACE_FL_ARGS | FTRACE_OPS_FL_IPMODIFY |
		 FTRACE_OPS_FL_PERMANENT,
};

static int __init floor_init(void)
{
	unsigned long ip = (unsigned long)submit_bio_noacct;
	int ret;

	rec_cache = KMEM_CACHE(floor_rec, 0);
	if (!rec_cache)
		return -ENOMEM;
	ret = ftrace_set_filter_ip(&floor_ops, ip, 0, 0);
	if (ret)
		goto err;
	ret = register_ftrace_function(&floor_ops);
	if (!ret)
		return 0;
	ftrace_set_filter_ip(&floor_ops, ip, 1, 0);
err:
	kmem_cache_destroy(rec_cache);
	return ret;
}

static void __exit floor_exit(void)
{
	unsigned long n = 0;
	int cpu;

	unregister_ftrace_function(&floor_ops);
	ftrace_set_filter_ip(&floor_ops, (unsigned long)submit_bio_noacct, 1, 0);
	/*
	 * Every counted write has completed, but its completion may still be
	 * returning through floor_end_io(): from interrupt context (an RCU
	 * grace period waits for it) or from a task preempted there (an
	 * RCU-tasks grace period waits for it) before the cache and the text go.
	 */
	wait_event(inflight_wq, !atomic_read(&inflight));
	synchronize_rcu();
	synchronize_rcu_tasks();
	for_each_possible_cpu(cpu) {
		struct floor_rec *r = per_cpu(free_head, cpu), *next;

		for (; r; r = next) {
			next = r->next;
			kmem_cache_free(rec_cache, r);
		}
	}
	kmem_cache_destroy(rec_cache);
	for_each_possible_cpu(cpu)
		n += per_cpu(writes_seen, cpu);
	pr_info("saw %lu writes\n", n);
}

module_init(floor_init);
module_exit(floor_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("cowsnap benchmark: the cost of an empty submit_bio_noacct() hook");
