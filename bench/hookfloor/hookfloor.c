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
 * Built with the module for every kernel (make), never installed.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/percpu.h>

static DEFINE_PER_CPU(unsigned long, writes_seen);

static void notrace floor_hook(unsigned long ip, unsigned long parent_ip,
			       struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct bio *bio = (struct bio *)ftrace_regs_get_argument(fregs, 0);

	if (!op_is_write(bio_op(bio)) || cs_own_text(parent_ip))
		return;
	this_cpu_inc(writes_seen);
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

	ret = ftrace_set_filter_ip(&floor_ops, ip, 0, 0);
	if (ret)
		return ret;
	ret = register_ftrace_function(&floor_ops);
	if (ret)
		ftrace_set_filter_ip(&floor_ops, ip, 1, 0);
	return ret;
}

static void __exit floor_exit(void)
{
	unsigned long n = 0;
	int cpu;

	unregister_ftrace_function(&floor_ops);
	ftrace_set_filter_ip(&floor_ops, (unsigned long)submit_bio_noacct, 1, 0);
	for_each_possible_cpu(cpu)
		n += per_cpu(writes_seen, cpu);
	pr_info("saw %lu writes\n", n);
}

module_init(floor_init);
module_exit(floor_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("cowsnap benchmark: the cost of an empty submit_bio_noacct() hook");
