/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_LOG_H
#define COWSNAPD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Before cs_log_to_syslog() everything goes to stderr. */
void cs_log_init(bool verbose);
void cs_log_to_syslog(void);
void cs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * At most burst messages per period_ms: cs_ratelimit() says whether to log
 * this one, and in *missed how many were dropped before it (0 mostly).
 */
struct cs_ratelimit {
	unsigned int burst, period_ms;
	unsigned long long start_ms;	/* of the current period */
	unsigned int n, missed;
};

bool cs_ratelimit(struct cs_ratelimit *r, unsigned long long now_ms, unsigned int *missed);

#define cs_err(...)	cs_log(LOG_ERR, __VA_ARGS__)
#define cs_warn(...)	cs_log(LOG_WARNING, __VA_ARGS__)
#define cs_info(...)	cs_log(LOG_INFO, __VA_ARGS__)
#define cs_dbg(...)	cs_log(LOG_DEBUG, __VA_ARGS__)

#endif
