// SPDX-License-Identifier: GPL-2.0
/* The files snapread creates beside an image: see outfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

#define NEW_FLAGS	(O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

static int refuse(char *why, size_t size, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(char *why, size_t size, const char *path, const char *fmt, ...)
{
	char what[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(why, size, "%s exists and is %s, not a leftover of an interrupted snapread: "
		 "remove it, or write elsewhere", path, what);
	return -EEXIST;
}

static int fail(char *why, size_t size, int err, const char *what, const char *path)
{
	snprintf(why, size, "cannot %s %s: %s", what, path, strerror(err));
	return -err;
}

/*
 * path exists: remove it if an interrupted snapread left it.  It is
 * checked through an fd of its own, so that what is checked is what is
 * locked and removed; a name swapped meanwhile (in a directory without the
 * sticky bit) only makes the next O_EXCL fail.
 */
static int remove_leftover(const char *path, char *why, size_t size)
{
	struct stat st, fst;
	int fd, ret;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : fail(why, size, errno, "check", path);
	if (S_ISLNK(st.st_mode))
		return refuse(why, size, path, "a symbolic link");
	if (!S_ISREG(st.st_mode))
		return refuse(why, size, path, "not a regular file");
	if (st.st_uid != geteuid())
		return refuse(why, size, path, "owned by uid %u", (unsigned)st.st_uid);
	if (st.st_nlink != 1)
		return refuse(why, size, path, "a file with %lu links",
			      (unsigned long)st.st_nlink);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(why, size, errno, "check", path);
	ret = 0;
	if (fstat(fd, &fst) || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		ret = refuse(why, size, path, "a file that changed while it was checked");
	} else if (flock(fd, LOCK_EX | LOCK_NB)) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (ret == -EBUSY)
			snprintf(why, size, "%s is being written by another snapread: wait for "
				 "it to finish, or write elsewhere", path);
		else
			snprintf(why, size, "%s exists and cannot be locked to tell whether a "
				 "snapread is writing it (%s): remove it if none is, or write "
				 "elsewhere", path, strerror(-ret));
	} else if (unlink(path) && errno != ENOENT) {
		ret = fail(why, size, errno, "remove the leftover", path);
	}
	close(fd);
	return ret;
}

int outfile_create(const char *path, char *why, size_t size)
{
	int fd, ret;

	fd = open(path, NEW_FLAGS, 0600);
	if (fd < 0 && errno == EEXIST) {
		ret = remove_leftover(path, why, size);
		if (ret)
			return ret;
		fd = open(path, NEW_FLAGS, 0600);
		if (fd < 0 && errno == EEXIST)
			return refuse(why, size, path, "a file created while snapread removed "
				      "a leftover there");
	}
	if (fd < 0)
		return fail(why, size, errno, "create", path);
	/*
	 * Nobody else holds a file just created.  Where locks are not
	 * available (ENOLCK) the copy goes on unlocked; a second snapread
	 * cannot lock the file either, so it refuses to remove it.
	 */
	(void)flock(fd, LOCK_EX | LOCK_NB);
	return fd;
}
