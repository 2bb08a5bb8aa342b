// SPDX-License-Identifier: GPL-2.0
/*
 * Built by tests/install/run against an installed libcowsnap (headers,
 * static library, pkg-config file): opening a socket nobody serves must fail
 * with a message that names the socket.
 */
#include <stdio.h>
#include <string.h>

#include <cowsnap.h>

int main(int argc, char **argv)
{
	struct cs_error err = { 0 };
	struct cs_client *c;

	if (argc != 2)
		return 2;
	if (!cs_client_open(argv[1], &c, &err)) {
		cs_client_close(c);
		printf("connected to %s\n", argv[1]);
		return 1;
	}
	printf("%s\n", err.message);
	return strstr(err.message, argv[1]) ? 0 : 1;
}
