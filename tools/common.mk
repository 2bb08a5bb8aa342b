# Shared by daemon/, tools/ and tests/unit/: flags, version, the client
# library's sources.  Each directory compiles the library into its own
# objects so that `make -C daemon` and `make -C tools` may run in parallel.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

COWSNAP_VERSION ?= $(shell cat $(TOP)/VERSION 2>/dev/null || echo 0.0.0)
PKG_CONFIG ?= pkg-config
CC ?= cc

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
	-Wshadow -Wformat=2 -Wpointer-arith -Wundef -Wvla -Wwrite-strings \
	-Wno-unused-parameter
CS_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -I$(TOP)/uapi -I$(TOP)/tools/lib \
	-DCOWSNAP_VERSION='"$(COWSNAP_VERSION)"' -MMD -MP \
	$(shell $(PKG_CONFIG) --cflags json-c)

LIB_SRCS := $(addprefix $(TOP)/tools/lib/,proto.c msgs.c client.c wmd.c writer.c size.c)
LIB_LIBS := $(shell $(PKG_CONFIG) --libs json-c)

.DEFAULT_GOAL := all

# Objects: a directory's own sources and the library's, under its .obj/.
OBJ := .obj

$(OBJ)/lib/%.o: $(TOP)/tools/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CS_CFLAGS) $(CFLAGS) -c -o $@ $<

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

print-version:
	@echo $(COWSNAP_VERSION)

.PHONY: print-version
