# cowsnap top-level Makefile.
#
#   make                  module for every supported installed kernel + userspace
#   make KVER=<version>   module for that kernel only
#   make deps             install build/test dependencies (Debian, root)
#   make check            unit tests on the host, then guest tests on each kernel
#   make bench            benchmarks in guests (bench/RESULTS.md)
#   make vmcheck          guest tests only (KERNELS="6.1 6.12" to choose)
#   make clean

TOP := $(CURDIR)
VERSION := $(shell cat $(TOP)/VERSION)

# Supported kernels: Debian's stock 6.1 and 6.12 series, where headers exist.
KVERS ?= $(if $(KVER),$(KVER),$(sort $(foreach d,$(wildcard /lib/modules/6.1.*/build /lib/modules/6.12.*/build),$(notdir $(patsubst %/build,%,$(d))))))
KERNELS ?= 6.1 6.12
MODULE_SRCS := $(wildcard $(TOP)/module/*.c $(TOP)/module/*.h) $(TOP)/Kbuild \
	$(TOP)/uapi/linux/cowsnap.h $(TOP)/VERSION

.PHONY: all module userspace deps check unit vmcheck clean bench demo dkms dkms-src $(KVERS:%=module-%)

all: module userspace

module: $(KVERS:%=module-%)
ifeq ($(strip $(KVERS)),)
	@echo "make: no 6.1 or 6.12 kernel headers in /lib/modules/*/build; run 'make deps' (or pass KVER=)" >&2; exit 1
endif

# Each kernel gets build/<kver>/: symlinks to the sources, so that objects
# of two kernels never mix.
$(KVERS:%=module-%): module-%: $(MODULE_SRCS)
	@mkdir -p build/$*/module
	@ln -sf $(TOP)/Kbuild build/$*/Kbuild
	@for f in $(TOP)/module/*.c $(TOP)/module/*.h; do ln -sf $$f build/$*/module/; done
	@find build/$*/module -xtype l -delete
	$(MAKE) -C /lib/modules/$*/build M=$(TOP)/build/$* COWSNAP_TOP=$(TOP) W=1 modules

# Userspace programs: the daemon, the tools, and the tests' own helpers.
USERSPACE_DIRS := daemon tools tools/read tests/tools

userspace:
	@set -e; for d in $(USERSPACE_DIRS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d; fi; \
	done

deps:
	scripts/deps

unit: userspace
	$(MAKE) -C tests/unit check

vmcheck: all
	scripts/vmcheck $(KERNELS)

# Unit tests, then the guest suite on each kernel; one summary line at the end.
check: all
	scripts/check $(KERNELS)

# Benchmarks in guests on each kernel; writes bench/RESULTS.md.
bench: all
	bench/run $(KERNELS)

# DKMS: the module's sources under $(DESTDIR)/usr/src/cowsnap-<version>/
# (dkms-src), then registered, built and installed for every kernel that has
# headers (dkms).
DKMS_SRC = $(DESTDIR)/usr/src/cowsnap-$(VERSION)

dkms-src:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/module $(DKMS_SRC)/uapi/linux
	install -m 0644 Kbuild VERSION $(DKMS_SRC)/
	install -m 0644 module/*.c module/*.h $(DKMS_SRC)/module/
	install -m 0644 uapi/linux/cowsnap.h $(DKMS_SRC)/uapi/linux/
	sed 's/@VERSION@/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf

dkms: dkms-src
	dkms add cowsnap/$(VERSION) 2>/dev/null || dkms status cowsnap/$(VERSION) | grep -q .
	@set -e; for k in $(KVERS); do dkms install cowsnap/$(VERSION) -k $$k; done

clean:
	rm -rf build
	@for d in $(USERSPACE_DIRS) tests/unit; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d clean; fi; \
	done
