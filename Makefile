# cowsnap top-level Makefile.
#
#   make                  module for every supported installed kernel + userspace
#   make KVER=<version>   module for that kernel only
#   make deps             install build/test dependencies (Debian, root)
#   make check            unit tests and model check on the host, then guest tests
#   make model            spin model check of the copy-on-write protocol (model/)
#   make bench            benchmarks in guests (bench/RESULTS.md)
#   make demo             one guest shows a whole application-consistent backup
#   make install          programs, units, rules, man pages (PREFIX=, DESTDIR=)
#   make uninstall        removes them again
#   make deb              Debian packages in build/deb/ (make lintian checks them)
#   make vmcheck          guest tests only (KERNELS="6.1 6.12 6.18 7.x" to choose)
#   make clean

TOP := $(CURDIR)
VERSION := $(shell cat $(TOP)/VERSION)

# Supported kernels: Debian 12's stock 6.1 and 6.12, where the host has their
# headers, and the 6.18 and newest 7.x kernels that scripts/kernels (run by
# make deps) unpacks under build/kernels/<kver>/ and builds for in its trixie
# chroot (their kbuild tools need trixie's glibc and gcc-14).
HOST_KVERS := $(sort $(foreach d,$(wildcard /lib/modules/6.1.*/build /lib/modules/6.12.*/build),$(notdir $(patsubst %/build,%,$(d)))))
FETCHED_KVERS := $(filter-out root,$(notdir $(patsubst %/.complete,%,$(wildcard $(TOP)/build/kernels/*/.complete))))
KVERS ?= $(if $(KVER),$(KVER),$(HOST_KVERS) $(FETCHED_KVERS))
# Kernel names for the guest runs (scripts/vm --kernel), the oldest first,
# the newest last: Debian 12's two, and 6.18 and 7.x when scripts/kernels
# has fetched them (make deps does).
KERNELS ?= 6.1 6.12 $(if $(filter 6.18.%,$(FETCHED_KVERS)),6.18) $(if $(filter 7.%,$(FETCHED_KVERS)),7.x)
MODULE_SRCS := $(wildcard $(TOP)/module/*.c $(TOP)/module/*.h) $(TOP)/Kbuild \
	$(wildcard $(TOP)/bench/hookfloor/*) \
	$(TOP)/uapi/linux/cowsnap.h $(TOP)/VERSION
# make -C <the headers of kernel $(1)>: on the host, or in scripts/kernels'
# chroot for a kernel it fetched.
kbuild = $(if $(wildcard $(TOP)/build/kernels/$(1)/.complete),$(TOP)/scripts/kernels make $(1),$(MAKE) -C /lib/modules/$(1)/build)

.PHONY: all module userspace deps check unit model vmcheck clean bench demo dkms dkms-src $(KVERS:%=module-%)

all: module userspace

module: $(KVERS:%=module-%)
ifeq ($(strip $(KVERS)),)
	@echo "make: no 6.1 or 6.12 kernel headers in /lib/modules/*/build, no kernel in build/kernels; run 'make deps' (or pass KVER=)" >&2; exit 1
endif

# Each kernel gets build/<kver>/: symlinks to the sources, so that objects
# of two kernels never mix.
$(KVERS:%=module-%): module-%: $(MODULE_SRCS)
	@mkdir -p build/$*/module
	@ln -sf $(TOP)/Kbuild build/$*/Kbuild
	@for f in $(TOP)/module/*.c $(TOP)/module/*.h; do ln -sf $$f build/$*/module/; done
	@find build/$*/module -xtype l -delete
	$(call kbuild,$*) M=$(TOP)/build/$* COWSNAP_TOP=$(TOP) W=1 modules
	@mkdir -p build/$*/hookfloor
	@ln -sf $(TOP)/bench/hookfloor/Kbuild $(TOP)/bench/hookfloor/*.c build/$*/hookfloor/
	$(call kbuild,$*) M=$(TOP)/build/$*/hookfloor COWSNAP_TOP=$(TOP) W=1 modules

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

# The spin model of hold/drain/take and the chunk state machine, verified
# exhaustively, and its known-bad variants refuted (part of make check)
model:
	model/run

# make install into a scratch DESTDIR and check the tree (part of make check)
installcheck: userspace
	tests/install/run

vmcheck: all
	scripts/vmcheck $(KERNELS)

# Unit tests, then the guest suite on each kernel; one summary line at the end.
check: all
	scripts/check $(KERNELS)

# Benchmarks in guests on Debian 12's two kernels (BENCH_KERNELS= to
# choose); writes bench/RESULTS.md.
BENCH_KERNELS ?= 6.1 6.12
bench: all
	bench/run $(BENCH_KERNELS)

# The README's main-job command: builds, boots a guest on a stock kernel and
# shows an application-consistent backup of two volumes, checked (scripts/demo).
demo:
	scripts/demo

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
	@set -e; for k in $(filter-out $(FETCHED_KVERS),$(KVERS)); do dkms install cowsnap/$(VERSION) -k $$k; done

# Debian packages (debian/): cowsnap, cowsnap-dkms, libcowsnap-dev and the
# source package, built by dpkg-buildpackage from a copy of the tree (the
# files git knows, tracked or new and not ignored) in
# build/deb/cowsnap-VERSION/, so that the working tree stays as it is; the
# packages and the .changes land in build/deb/.  debian/changelog must be at
# VERSION.  make lintian checks what make deb built: any error or warning
# that no debian/*lintian-overrides justifies fails.  make pkgcheck builds,
# runs lintian, and installs and upgrades the packages in a throw-away
# Debian 12 chroot (tests/pkg/run; make check runs it from tests/install/run).
DEB_DIR := $(TOP)/build/deb
DEB_CHANGES = $(DEB_DIR)/cowsnap_$(VERSION)_$(shell dpkg --print-architecture).changes

.PHONY: deb lintian pkgcheck
deb:
	@v=$$(dpkg-parsechangelog -S Version) && [ "$$v" = "$(VERSION)" ] || { \
		echo "make deb: debian/changelog is at $$v, VERSION at $(VERSION): add an entry (dch -v $(VERSION))" >&2; \
		exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/cowsnap-$(VERSION)
	{ git ls-files -z -c -o --exclude-standard 2>/dev/null || \
		find . \( -path ./build -o -path ./.git \) -prune -o -type f -printf '%P\0'; } | \
		xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' - | \
		tar --null --no-recursion -T - -cf - | tar -xf - -C $(DEB_DIR)/cowsnap-$(VERSION)
	cd $(DEB_DIR)/cowsnap-$(VERSION) && dpkg-buildpackage -us -uc -Jauto
	rm -rf $(DEB_DIR)/cowsnap-$(VERSION)

lintian:
	@[ -f $(DEB_CHANGES) ] || { echo "make lintian: no $(DEB_CHANGES); run make deb first" >&2; exit 1; }
	lintian --fail-on error,warning --display-info $(DEB_CHANGES)

pkgcheck:
	tests/pkg/run

# Installation.  PREFIX defaults to /usr/local, the place for software built
# from source; a package build passes PREFIX=/usr.  systemd, udev and
# systemd-tmpfiles all read $(PREFIX)/lib/... under either prefix.  The
# configuration is always /etc/cowsnap (cowsnapd's built-in default), and
# existing files there are never replaced.  The module itself is installed
# with `make dkms' (or `make install-module').
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
LIBEXECDIR ?= $(PREFIX)/lib/cowsnap
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CONFDIR ?= /etc/cowsnap
# libcowsnap's headers (cowsnap.h includes the others)
LIB_HEADERS := $(wildcard tools/lib/*.h)
# the shipped hook writers, each with daemon/dist/NAME.conf.sample
WRITERS := sqlite postgresql mysql qemu-fsfreeze
MANPAGES := man/snapread.1 man/cowsnap.conf.5 man/cowsnap-writer.7 man/snapctl.8 man/cowsnapd.8
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@PREFIX@|$(PREFIX)|g' \
	-e 's|@VERSION@|$(VERSION)|g'

.PHONY: install uninstall install-module installcheck

install: userspace
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/writers \
		$(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/cowsnap $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(CONFDIR)/writers.d \
		$(addprefix $(DESTDIR)$(MANDIR)/man,1 5 7 8)
	install -m 0755 daemon/cowsnapd tools/snapctl $(DESTDIR)$(SBINDIR)/
	install -m 0755 tools/read/snapread $(DESTDIR)$(BINDIR)/
	install -m 0755 $(addprefix tools/writers/,$(WRITERS)) $(DESTDIR)$(LIBEXECDIR)/writers/
	$(SUBST) daemon/dist/cowsnap-udev-name > $(DESTDIR)$(LIBEXECDIR)/cowsnap-udev-name
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/cowsnap-udev-name
	install -m 0644 tools/lib/libcowsnap.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(LIB_HEADERS) $(DESTDIR)$(INCLUDEDIR)/cowsnap/
	$(SUBST) daemon/dist/cowsnap.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cowsnap.pc
	$(SUBST) daemon/dist/cowsnapd.service > $(DESTDIR)$(UNITDIR)/cowsnapd.service
	$(SUBST) daemon/dist/60-cowsnap.rules > $(DESTDIR)$(UDEVRULESDIR)/60-cowsnap.rules
	install -m 0644 daemon/dist/cowsnap.tmpfiles $(DESTDIR)$(TMPFILESDIR)/cowsnap.conf
	install -m 0644 tools/completion/snapctl $(DESTDIR)$(BASHCOMPDIR)/snapctl
	install -m 0644 tools/completion/snapread $(DESTDIR)$(BASHCOMPDIR)/snapread
	@set -e; for m in $(MANPAGES); do \
		s=$${m##*.}; $(SUBST) $$m > $(DESTDIR)$(MANDIR)/man$$s/$${m#man/}; \
	done
	install -m 0644 daemon/dist/storage.conf.sample $(DESTDIR)$(CONFDIR)/storage.conf.sample
	@set -e; for w in $(WRITERS); do \
		$(SUBST) daemon/dist/$$w.conf.sample > $(DESTDIR)$(CONFDIR)/writers.d/$$w.conf.sample; \
	done
	install -m 0644 daemon/dist/sqlite.dbs.sample $(DESTDIR)$(CONFDIR)/writers.d/sqlite.dbs.sample
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi; \
		if [ -S /run/udev/control ]; then udevadm control --reload || true; fi; \
		systemd-tmpfiles --create cowsnap.conf 2>/dev/null || true; \
		echo "installed; next: make dkms (the module), systemctl enable --now cowsnapd"; \
	fi

# Removes what install put there.  storage.conf is not install's: the admin
# or `snapctl storage add' wrote it, and it stays.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/cowsnapd $(DESTDIR)$(SBINDIR)/snapctl $(DESTDIR)$(BINDIR)/snapread
	rm -f $(addprefix $(DESTDIR)$(LIBEXECDIR)/writers/,$(WRITERS)) $(DESTDIR)$(LIBEXECDIR)/cowsnap-udev-name
	rmdir $(DESTDIR)$(LIBEXECDIR)/writers $(DESTDIR)$(LIBEXECDIR) 2>/dev/null || true
	rm -f $(DESTDIR)$(LIBDIR)/libcowsnap.a $(DESTDIR)$(PKGCONFIGDIR)/cowsnap.pc
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/cowsnap/,$(notdir $(LIB_HEADERS)))
	rmdir $(DESTDIR)$(INCLUDEDIR)/cowsnap 2>/dev/null || true
	rm -f $(DESTDIR)$(UNITDIR)/cowsnapd.service $(DESTDIR)$(UDEVRULESDIR)/60-cowsnap.rules \
		$(DESTDIR)$(TMPFILESDIR)/cowsnap.conf
	rm -f $(DESTDIR)$(BASHCOMPDIR)/snapctl $(DESTDIR)$(BASHCOMPDIR)/snapread
	rm -f $(foreach m,$(MANPAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -f $(foreach w,$(WRITERS),$(DESTDIR)$(CONFDIR)/writers.d/$(w).conf.sample) \
		$(DESTDIR)$(CONFDIR)/writers.d/sqlite.dbs.sample
	rm -f $(DESTDIR)$(CONFDIR)/storage.conf.sample
	rmdir $(DESTDIR)$(CONFDIR)/writers.d $(DESTDIR)$(CONFDIR) 2>/dev/null || true

# The module without DKMS: into /lib/modules/<kver>/updates/ for every
# kernel built (KVER= for one), then depmod; not for the kernels in
# build/kernels, which only guests boot.
install-module: module
	@set -e; for k in $(filter-out $(FETCHED_KVERS),$(KVERS)); do \
		$(MAKE) -C /lib/modules/$$k/build M=$(TOP)/build/$$k COWSNAP_TOP=$(TOP) \
			INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=updates modules_install; \
		[ -n "$(DESTDIR)" ] || depmod $$k; \
	done

# build/kernels stays (scripts/kernels' downloads and chroot, like make deps'
# packages): rm -rf build/kernels to fetch them again.
clean:
	find build -mindepth 1 -maxdepth 1 ! -name kernels -exec rm -rf {} + 2>/dev/null || true
	@for d in $(USERSPACE_DIRS) tests/unit; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d clean; fi; \
	done
