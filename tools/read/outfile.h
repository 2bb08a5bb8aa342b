/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_OUTFILE_H
#define SNAPREAD_OUTFILE_H

#include <stddef.h>

/*
 * The files snapread creates beside an image (OUTPUT.partial,
 * IMAGE.cowsnap-meta.tmp) live in directories others may write, /tmp say.
 *
 * Create path for writing, mode 0600, with O_EXCL | O_NOFOLLOW: never
 * through a symlink, never into a file someone put there.  What is there
 * already is removed only when it is a leftover of an interrupted snapread:
 * a regular file of the caller's with one link that no running snapread
 * holds; anything else is refused, why naming it and saying to remove it.
 * The file is locked (flock) while the returned fd is open, which is how a
 * second snapread writing the same file knows it is not a leftover: keep the
 * fd open until the file is renamed or removed.  Returns the fd, or -errno
 * with why: -EEXIST refused, -EBUSY being written by another snapread.
 */
int outfile_create(const char *path, char *why, size_t size);

#endif /* SNAPREAD_OUTFILE_H */
