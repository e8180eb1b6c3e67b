# SPDX-License-Identifier: GPL-2.0-or-later
# Build, install and package the Qubes OS dom0 tools (GNU conventions).
#
#   make                                   build with npm (npm ci when node_modules
#                                          is missing, then npm run build)
#   make install DESTDIR=/tmp/x PREFIX=/usr
#                                          install what make built (it builds nothing)
#   make uninstall PREFIX=/usr             remove what install put
#   make dist                              $(DISTDIR)/qubes-dom0-tools-VERSION.tar.gz:
#                                          the built bundles, the sources and the rpm spec
#   make rpm                               rpmbuild -bb from that tarball, in $(RPMDIR)
#   make check                             every test (scripts/test.sh)
#
# The installed layout: the bundles (CommonJS, with the launcher that runs
# them with a per-user V8 code cache, lib/launcher.ts), their shims (with
# bin/package.json, which marks them as CommonJS) and package.json (how the
# code finds its own commands) in $(PKGLIBDIR), as npm would install the
# package; nothing is written there at run time; $(BINDIR)/NAME a relative
# symlink to $(PKGLIBDIR)/bin/NAME (#!/usr/bin/env node: the first node on
# PATH runs it); the bash completion once in $(PKGLIBDIR)/completions and
# $(BASHCOMPLETIONDIR)/NAME a symlink to it for every command, which
# bash-completion loads the first time NAME is completed; the systemd units
# in $(SYSTEMDUNITDIR), their /usr/bin/COMMAND rewritten to $(BINDIR)/COMMAND.

SHELL := /bin/sh

PACKAGE := qubes-dom0-tools
# package.json is the one place of the version (lib/version.ts follows it; a test checks)
VERSION := $(shell sed -n 's/^  "version": "\([^"]*\)",$$/\1/p' package.json)

PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
# Architecture-independent code, as /usr/lib/node_modules or /usr/lib/systemd:
# $(PREFIX)/lib even where the system's libraries live in lib64.
LIBDIR ?= $(EXEC_PREFIX)/lib
PKGLIBDIR ?= $(LIBDIR)/$(PACKAGE)
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
MAN1DIR ?= $(MANDIR)/man1
MAN8DIR ?= $(MANDIR)/man8
BASHCOMPLETIONDIR ?= $(DATAROOTDIR)/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# /etc for a system install (PREFIX=/usr), else PREFIX/etc as GNU says.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)

# The Admin API: qubesd's qrexec policy (the default policy file and the
# include files administrators grant rights in) in $(QUBES_POLICYDIR), and
# one entry per method in $(QUBES_RPCDIR), a symbolic link to qubesd's
# socket, through which qrexec reaches the daemon. All made by gen-docs from
# the daemon's method table (lib/daemon/policy.ts) under admin-api/.
QUBES_POLICYDIR ?= $(SYSCONFDIR)/qubes/policy.d
QUBES_RPCDIR ?= $(SYSCONFDIR)/qubes-rpc
QUBESD_SOCKET_PATH ?= /var/run/qubesd.sock
ADMIN_API_POLICY_FILES := admin-api/policy.d/90-admin-default.policy
ADMIN_API_POLICY_INCLUDES := $(wildcard admin-api/policy.d/include/admin-*)
ADMIN_API_RPC_FILES := $(shell cat admin-api/qubes-rpc-methods 2>/dev/null)
# services that are scripts, not the socket: the volume import copies the data itself
ADMIN_API_RPC_SCRIPT := admin-api/qubes-rpc/admin.vm.volume.Import
ADMIN_API_RPC_SCRIPT_ALIASES := admin.vm.volume.ImportWithSize

INSTALL ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 755
INSTALL_DATA ?= $(INSTALL) -m 644

# Where dist and rpm work and write (absolute: rpmbuild changes directory).
BUILDDIR ?= $(CURDIR)/build
DISTDIR ?= $(CURDIR)
RPMDIR ?= $(CURDIR)/rpmbuild

COMMANDS := $(filter-out package.json,$(notdir $(wildcard bin/*)))
BUNDLES := $(COMMANDS:%=dist/bin/%.cjs) dist/bin/launch.cjs dist/bin/kdf-child.cjs
MAN1 := $(wildcard man/*.1)
MAN8 := $(wildcard man/*.8)
COMPLETION := completions/qubes-tools.bash
UNITS := $(wildcard contrib/systemd/*.service contrib/systemd/*.timer)

DIST_NAME := $(PACKAGE)-$(VERSION)
DIST_TARBALL := $(DISTDIR)/$(DIST_NAME).tar.gz
# What the tarball holds: what install needs, the sources it was built from
# and how to build them again (with the npm dependencies, not included).
DIST_FILES := Makefile README.md package.json package-lock.json tsconfig.json \
  admin-api bin dist/bin completions contrib lib man rpm_spec scripts
SPEC_IN := rpm_spec/$(PACKAGE).spec.in

# relative path from directory $(1) to $(2), both absolute, neither resolved
relpath = $(shell realpath -ms --relative-to='$(1)' '$(2)')
# the installed paths of files $(2) in directory $(1), quoted
under = $(patsubst %,'$(DESTDIR)$(1)/%',$(notdir $(2)))

.PHONY: all install install-admin-api uninstall check-built dist rpm check clean

all:
	[ -d node_modules ] || npm ci --no-audit --no-fund
	npm run build

check-built:
	@for f in $(BUNDLES); do \
	  [ -f "$$f" ] || { echo "make: $$f is missing: run make (npm run build) first" >&2; exit 1; }; \
	done

install: check-built install-admin-api
	$(INSTALL) -d '$(DESTDIR)$(PKGLIBDIR)/bin' '$(DESTDIR)$(PKGLIBDIR)/dist/bin' '$(DESTDIR)$(PKGLIBDIR)/completions'
	$(INSTALL_DATA) package.json '$(DESTDIR)$(PKGLIBDIR)/package.json'
	$(INSTALL_PROGRAM) $(COMMANDS:%=bin/%) '$(DESTDIR)$(PKGLIBDIR)/bin/'
	$(INSTALL_DATA) bin/package.json '$(DESTDIR)$(PKGLIBDIR)/bin/package.json'
	$(INSTALL_DATA) $(BUNDLES) '$(DESTDIR)$(PKGLIBDIR)/dist/bin/'
	$(INSTALL_DATA) $(COMPLETION) '$(DESTDIR)$(PKGLIBDIR)/completions/'
	$(INSTALL) -d '$(DESTDIR)$(BINDIR)'
	for c in $(COMMANDS); do \
	  ln -sfn '$(call relpath,$(BINDIR),$(PKGLIBDIR)/bin)'/"$$c" '$(DESTDIR)$(BINDIR)'/"$$c" || exit 1; \
	done
	$(INSTALL) -d '$(DESTDIR)$(BASHCOMPLETIONDIR)'
	for c in $(COMMANDS); do \
	  ln -sfn '$(call relpath,$(BASHCOMPLETIONDIR),$(PKGLIBDIR)/$(COMPLETION))' '$(DESTDIR)$(BASHCOMPLETIONDIR)'/"$$c" || exit 1; \
	done
	$(INSTALL) -d '$(DESTDIR)$(MAN1DIR)' '$(DESTDIR)$(MAN8DIR)'
	$(INSTALL_DATA) $(MAN1) '$(DESTDIR)$(MAN1DIR)/'
	$(INSTALL_DATA) $(MAN8) '$(DESTDIR)$(MAN8DIR)/'
	$(INSTALL) -d '$(DESTDIR)$(SYSTEMDUNITDIR)'
	for u in $(UNITS); do \
	  sed 's|^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/bin/|\1$(BINDIR)/|' "$$u" >'$(DESTDIR)$(SYSTEMDUNITDIR)'/"$${u##*/}" && \
	  chmod 644 '$(DESTDIR)$(SYSTEMDUNITDIR)'/"$${u##*/}" || exit 1; \
	done

install-admin-api:
	$(INSTALL) -d '$(DESTDIR)$(QUBES_POLICYDIR)/include' '$(DESTDIR)$(QUBES_RPCDIR)'
	$(INSTALL_DATA) $(ADMIN_API_POLICY_FILES) '$(DESTDIR)$(QUBES_POLICYDIR)/'
	$(INSTALL_DATA) $(ADMIN_API_POLICY_INCLUDES) '$(DESTDIR)$(QUBES_POLICYDIR)/include/'
	for m in $(ADMIN_API_RPC_FILES); do \
	  ln -sfn '$(QUBESD_SOCKET_PATH)' '$(DESTDIR)$(QUBES_RPCDIR)'/"$$m" || exit 1; \
	done
	$(INSTALL_PROGRAM) $(ADMIN_API_RPC_SCRIPT) '$(DESTDIR)$(QUBES_RPCDIR)/'
	for a in $(ADMIN_API_RPC_SCRIPT_ALIASES); do \
	  ln -sfn $(notdir $(ADMIN_API_RPC_SCRIPT)) '$(DESTDIR)$(QUBES_RPCDIR)'/"$$a" || exit 1; \
	done

uninstall:
	rm -f $(call under,$(BINDIR),$(COMMANDS)) $(call under,$(BASHCOMPLETIONDIR),$(COMMANDS))
	rm -f $(call under,$(MAN1DIR),$(MAN1)) $(call under,$(MAN8DIR),$(MAN8)) $(call under,$(SYSTEMDUNITDIR),$(UNITS))
	rm -f $(call under,$(QUBES_POLICYDIR),$(ADMIN_API_POLICY_FILES)) $(call under,$(QUBES_POLICYDIR)/include,$(ADMIN_API_POLICY_INCLUDES))
	rm -f $(call under,$(QUBES_RPCDIR),$(ADMIN_API_RPC_FILES) $(ADMIN_API_RPC_SCRIPT) $(ADMIN_API_RPC_SCRIPT_ALIASES))
	rm -rf '$(DESTDIR)$(PKGLIBDIR)'

dist: check-built
	@[ -n '$(VERSION)' ] || { echo 'make: no "version" line found in package.json' >&2; exit 1; }
	rm -rf '$(BUILDDIR)/$(DIST_NAME)'
	mkdir -p '$(BUILDDIR)/$(DIST_NAME)' '$(DISTDIR)'
	cp -a --parents $(DIST_FILES) '$(BUILDDIR)/$(DIST_NAME)/'
	sed 's/@VERSION@/$(VERSION)/g' $(SPEC_IN) >'$(BUILDDIR)/$(DIST_NAME)/rpm_spec/$(PACKAGE).spec'
	tar -C '$(BUILDDIR)' --sort=name --owner=0 --group=0 --numeric-owner -czf '$(DIST_TARBALL)' $(DIST_NAME)

rpm: dist
	mkdir -p '$(RPMDIR)/SOURCES'
	cp '$(DIST_TARBALL)' '$(RPMDIR)/SOURCES/'
	rpmbuild -bb --define '_topdir $(RPMDIR)' '$(BUILDDIR)/$(DIST_NAME)/rpm_spec/$(PACKAGE).spec'

check:
	bash scripts/test.sh

clean:
	rm -rf dist '$(BUILDDIR)' '$(RPMDIR)' '$(DIST_TARBALL)'
