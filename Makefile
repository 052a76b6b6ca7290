# gale: build, run, test and benchmark. `make help` lists the targets.
#
# Layout of a build folder (build/, or build-asan/ for SANITIZE=address,undefined):
#   obj/...            objects and their dependency files, mirroring the source tree
#   lib/libgale.a      the runtime
#   bin/gale           the command
#   plugins/*.so       the spouts and bolts that ship with gale
#   tests/             test binaries and the test fixture plugins

.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD ?= build
SAN_FLAGS :=
OPT ?= -O2
else
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT ?= -O1
endif

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

# msgpack-c is `msgpack` up to 4.x and `msgpack-c` from 6.x on.
MSGPACK_PC := $(shell pkg-config --exists msgpack-c 2>/dev/null && echo msgpack-c || echo msgpack)
PKGS := libuv $(MSGPACK_PC) libconfig libcrypto libssl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SAN_FLAGS) -fPIC -MMD -MP
# runtime/ is in folders by layer (docs/ARCHITECTURE.md); a file includes another by its bare name, as nginx's do.
RUNTIME_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard runtime/*/*.h runtime/*/*.c))))
CFLAGS_ALL = $(CFLAGS_BASE) -DGALE_HOST_SIDE $(PKG_CFLAGS) -Iruntime $(addprefix -I,$(RUNTIME_DIRS)) -Itests/lib $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
# ZooKeeper's C client (cluster mode, runtime/cluster/zk.c) and http-parser (runtime/http/http_server.c) have no
# pkg-config file.
LIBS_ALL = $(PKG_LIBS) -lzookeeper_mt -lhttp_parser -lhiredis -ldl -lpthread -lm

# Plugins see only runtime/gale.h and must not call the runtime by name.
PLUGIN_CFLAGS = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SAN_FLAGS) -fPIC -fvisibility=hidden -MMD -MP -Iruntime $(CFLAGS)
PLUGIN_LDFLAGS = -shared $(SAN_FLAGS) -Wl,-z,defs
# C++ plugins (tests/plugins/*.cpp) get the same treatment from g++, C++20 for designated initialisers; g++ links
# libstdc++ into them.
CXX ?= g++
ifeq ($(origin CXX),default)
CXX := g++
endif
PLUGIN_CXXFLAGS = -std=c++20 -g $(OPT) -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter $(SAN_FLAGS) -fPIC -fvisibility=hidden -MMD -MP -Iruntime $(CXXFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

RUNTIME_SRC := $(sort $(wildcard runtime/*/*.c))
GALE_SRC := $(sort $(wildcard tools/gale/*.c))
BENCH_SRC := $(sort $(wildcard tools/bench/*.c))
SPOUT_SRC := $(sort $(wildcard spouts/*.c))
BOLT_SRC := $(sort $(wildcard bolts/*.c))
TESTLIB_SRC := $(sort $(wildcard tests/lib/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
E2E_SRC := $(sort $(wildcard tests/e2e/*.c))
TPLUGIN_SRC := $(sort $(wildcard tests/plugins/*.c))
TPLUGIN_CXX_SRC := $(sort $(wildcard tests/plugins/*.cpp))
BPLUGIN_SRC := $(sort $(wildcard tools/bench/plugins/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBGALE := $(BUILD)/lib/libgale.a
GALE := $(BUILD)/bin/gale
PLUGINS := $(patsubst %.c,$(BUILD)/plugins/%.so,$(notdir $(SPOUT_SRC) $(BOLT_SRC)))
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(TPLUGIN_SRC)) \
                $(patsubst tests/plugins/%.cpp,$(BUILD)/tests/plugins/%.so,$(TPLUGIN_CXX_SRC))
BENCH_PLUGINS := $(patsubst tools/bench/plugins/%.c,$(BUILD)/bench/plugins/%.so,$(BPLUGIN_SRC))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
E2E_TESTS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/%,$(E2E_SRC))
BENCH := $(BUILD)/bin/gale-bench
# librdkafka's mock Kafka cluster in a process of its own (tools/kafka_mock/main.c): Debian has no Kafka broker.
KAFKA_MOCK := $(BUILD)/bin/gale-kafka-mock

# zookeeper is the server (with Java) that `make cluster` and the cluster-mode tests start (runtime/cluster/zk_local.c).
# librdkafka-dev is Kafka's C client, the field's standard (spouts/kafka.c), with the mock cluster tools/kafka_mock hosts.
DEB_PACKAGES := libuv1-dev libmsgpack-dev libconfig-dev libzookeeper-mt-dev libhttp-parser-dev libhiredis-dev libcriterion-dev pkg-config python3 \
                zookeeper librdkafka-dev libpcre2-dev libssl-dev libxgboost-dev
# What only the tests use, installed by `make test` (and `make test-deps`): prometheus gives promtool, which checks
# the /metrics text, and the server that scrapes a run (tests/e2e/test_http.c); chromium loads the web UI headless
# (tests/e2e/test_ui.c); scikit-learn's IsolationForest is what the anomaly test compares itself with (in its
# output, not as a pass condition); python3-xgboost trains the models the xgboost bolt's scores are checked against;
# curl is the HTTPS client that checks the endpoint with the cluster's CA (tests/e2e/test_https.c), as a user would.
TEST_PACKAGES := prometheus chromium redis-server python3-sklearn python3-xgboost curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# make install: the command, the shipped plugins, gale.h and gale.pc, for plugin authors outside the tree.
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^\#define GALE_VERSION "\(.*\)"/\1/p' tools/gale/main.c)

.PHONY: all run cluster test check bench asan clean deps test-deps help format install
all: $(GALE) $(PLUGINS) $(KAFKA_MOCK)

help:
	@echo "make deps    install missing Debian packages ($(DEB_PACKAGES))"
	@echo "make         build the runtime, the gale command and the shipped plugins into $(BUILD)/"
	@echo "make run     deps + build, then run topologies/wordcount.cfg locally for 10 s"
	@echo "make cluster deps + build, then gale dev-cluster: ZooKeeper, one nimbus and two supervisors on 127.0.0.1,"
	@echo "             until Ctrl-C; it prints how to submit (CLUSTER_ARGS=\"--supervisors 3\" for more)"
	@echo "make test    deps + test-deps ($(TEST_PACKAGES)) + build, then the whole suite, plain and under ASan+UBSan"
	@echo "make check   the test suite once, in this build only (no sanitizer pass)"
	@echo "make asan    build everything with SANITIZE=address,undefined into build-asan/"
	@echo "make bench   deps + build, then the benchmarks (tools/bench; BENCH_ARGS=--quick for a short run)"
	@echo "make format  apply .clang-format to the lines changed since main (FORMAT_BASE=main)"
	@echo "make install install gale, its plugins, gale.h and gale.pc under \$$(DESTDIR)\$$(PREFIX) ($(PREFIX))"
	@echo "make clean   remove build/ and build-asan/"
	@echo "V=1 shows the full commands."

# Installs only what is missing of the packages $(1), so that it is a quick no-op on a machine that has everything.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

test-deps: deps
	$(call install_missing,$(TEST_PACKAGES))

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(GALE) run --duration 10 topologies/wordcount.cfg

# A cluster on this host from the checkout (tools/gale/cmd_devcluster.c), in the foreground: Ctrl-C stops it.
cluster: deps
	$(Q)$(MAKE) --no-print-directory all
	$(GALE) dev-cluster $(CLUSTER_ARGS)

# The whole suite: the plain build, then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-deps
	$(Q)$(MAKE) --no-print-directory check
	$(Q)$(MAKE) --no-print-directory check SANITIZE=address,undefined

check: all $(UNIT_TESTS) $(E2E_TESTS) $(TEST_PLUGINS) $(BENCH) $(BENCH_PLUGINS)
	$(Q)python3 tools/check_layers.py && python3 tools/check_layers.py --symbols $(BUILD) && tests/test_layers.sh $(BUILD)
	$(Q)GALE_BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh $(UNIT_TESTS) $(E2E_TESTS)

asan:
	$(Q)$(MAKE) --no-print-directory all SANITIZE=address,undefined

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCH) $(BENCH_PLUGINS)
	GALE_PLUGIN_PATH=$(BUILD)/bench/plugins $(BENCH) $(BENCH_ARGS)

# Only the lines changed since the branch left FORMAT_BASE: formatting whole files would still restyle about 800
# lines of the tree (see .clang-format) and bury every merge in noise. `git clang-format --diff` shows instead.
FORMAT_BASE ?= main
format:
	git clang-format --binary clang-format-14 $$(git merge-base $(FORMAT_BASE) HEAD) -- runtime tools spouts bolts tests

clean:
	rm -rf build build-asan

install: all
	@echo "  INSTALL $(DESTDIR)$(PREFIX)"
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/lib/gale/plugins $(DESTDIR)$(PREFIX)/lib/gale/multilang
	$(Q)install -m 755 $(GALE) $(DESTDIR)$(PREFIX)/bin/gale
	$(Q)install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/gale/plugins/
	$(Q)install -m 644 runtime/gale.h $(DESTDIR)$(PREFIX)/include/gale.h
	$(Q)install -m 644 bolts/multilang/gale_multilang.py $(DESTDIR)$(PREFIX)/lib/gale/multilang/
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tools/pkgconfig/gale.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gale.pc

$(LIBGALE): $(call obj,$(RUNTIME_SRC))
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The web UI's page is taken into its object by the assembler (.incbin), which the compiler's dependency files do not
# see: this says it.
$(BUILD)/obj/runtime/http/ui_page.o: runtime/http/ui/index.html

# One template per kind of rule: what differs is only the folders and the flags.
#   compile(OBJ_DIR, SRC_DIR, FLAGS)   link(TARGET_PATTERN, PREREQUISITES, LINKER_ARGS)
define compile
$$(BUILD)/obj/$(1)%.o: $(2)%.c
	@mkdir -p $$(@D)
	@echo "  CC      $$<"
	$$(Q)$$(CC) $(3) -c -o $$@ $$<
endef
define link
$(1): $(2)
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$$(Q)$$(CC) $(3)
endef

$(eval $(call link,$(GALE),$(call obj,$(GALE_SRC)) $(LIBGALE),$$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS_ALL)))
$(eval $(call link,$(BENCH),$(call obj,$(BENCH_SRC)) $(LIBGALE),$$(LDFLAGS_ALL) -o $$@ $$^ $$(LIBS_ALL)))
$(eval $(call link,$(KAFKA_MOCK),$(call obj,tools/kafka_mock/main.c),$$(LDFLAGS_ALL) -o $$@ $$^ -lrdkafka))
$(eval $(call compile,,,$$(CFLAGS_ALL)))

# Plugins: position-independent, hidden visibility, and no undefined symbols (so no calls into the runtime).
# PLUGIN_LIBS_name: the libraries plugin `name` links (a connector's client library).
PLUGIN_LIBS_kafka := -lrdkafka
PLUGIN_LIBS_kafka_sink := -lrdkafka
PLUGIN_LIBS_redis_stream := -lhiredis -luv -lpthread
PLUGIN_LIBS_redis_sink := -lhiredis -luv -lpthread
PLUGIN_LIBS_pii := -lpcre2-8 -lcrypto
PLUGIN_LIBS_xgboost := -lxgboost -lpthread
$(eval $(call compile,plugins/,spouts/,$$(PLUGIN_CFLAGS)))
$(eval $(call compile,plugins/,bolts/,$$(PLUGIN_CFLAGS)))
$(eval $(call compile,benchplugins/,tools/bench/plugins/,$$(PLUGIN_CFLAGS)))
$(eval $(call compile,testplugins/,tests/plugins/,$$(PLUGIN_CFLAGS)))
$(eval $(call link,$(BUILD)/plugins/%.so,$(BUILD)/obj/plugins/%.o,$$(PLUGIN_LDFLAGS) -o $$@ $$< $$(PLUGIN_LIBS_$$*) -lm))
$(eval $(call link,$(BUILD)/bench/plugins/%.so,$(BUILD)/obj/benchplugins/%.o,$$(PLUGIN_LDFLAGS) -o $$@ $$< -lm))
$(eval $(call link,$(BUILD)/tests/plugins/%.so,$(BUILD)/obj/testplugins/%.o,$$(PLUGIN_LDFLAGS) -o $$@ $$< -lm))
$(BUILD)/obj/testplugins/%.cpp.o: tests/plugins/%.cpp
	@mkdir -p $(@D)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(PLUGIN_CXXFLAGS) -c -o $@ $<
$(BUILD)/tests/plugins/%.so: $(BUILD)/obj/testplugins/%.cpp.o
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CXX) $(PLUGIN_LDFLAGS) -o $@ $<

# Tests: unit and end-to-end alike, with the shared test library.
$(eval $(call link,$(BUILD)/tests/%,$(BUILD)/obj/tests/unit/%.o $(call obj,$(TESTLIB_SRC)) $(LIBGALE),$$(LDFLAGS_ALL) -o $$@ $$^ -lcriterion $$(LIBS_ALL)))
# End-to-end tests also link librdkafka: the Kafka tests produce records and read a group's committed offsets.
$(eval $(call link,$(BUILD)/tests/%,$(BUILD)/obj/tests/e2e/%.o $(call obj,$(TESTLIB_SRC)) $(LIBGALE),$$(LDFLAGS_ALL) -o $$@ $$^ -lcriterion $$(LIBS_ALL) -lrdkafka))

.PRECIOUS: $(BUILD)/obj/%.o $(BUILD)/obj/plugins/%.o $(BUILD)/obj/testplugins/%.o $(BUILD)/obj/testplugins/%.cpp.o $(BUILD)/obj/benchplugins/%.o

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
