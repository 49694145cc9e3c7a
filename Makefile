# dvault - backup and recovery console for a document server with a DAOS repository.
#
#   make            build dvault and dvload (left at the top of the checkout)
#   make run        build, create the demo server and target under ./var, open the console
#   make test       build and run the whole suite (unit, end-to-end, console; needs cmocka)
#   make bench      benchmarks side by side with cp/rsync/find/sqlite3
#   make bench-pitr the point-in-time archiver's cost alone (bench/pitr.sh; also part of bench)
#   make fuzz       fuzz every parser with libFuzzer, FUZZ_SECONDS each (docs/reliability.md)
#   make install    PREFIX=/usr/local DESTDIR= (binaries, themes, man pages dvault(1), dvload(1))
#   SANITIZER=address,undefined  build and test with sanitizers (in build/san-address-undefined/)
#   WERROR=0        warnings are not errors (a newer compiler's new warnings); default 1
#   V=1             show full commands

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS := ncursesw sqlite3 yaml-0.1 libcrypto jansson libzstd libcurl
# cmocka is needed by the unit tests only: asked of pkg-config when a test is built, so that
# a plain `make` works without it (`make test` installs it through scripts/deps.sh test).
TEST_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
TEST_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
comma := ,
empty :=
space := $(empty) $(empty)

# Each sanitizer list builds in its own directory: build/san-address-undefined for
# SANITIZER=address,undefined (commas and spaces become dashes).
SANITIZER := $(strip $(SANITIZER))
ifeq ($(SANITIZER),)
BUILD := build
SANFLAGS :=
else
BUILD := build/san-$(subst $(space),-,$(subst $(comma),-,$(SANITIZER)))
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# Warnings are errors (CI, make test); WERROR=0 turns that off for a newer compiler.
WERROR ?= 1
WERRFLAG := $(if $(filter 0 no,$(WERROR)),,-Werror)

ifeq ($(V),1)
Q :=
else
Q := @
endif

OPT ?= -O2
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERRFLAG) -Wshadow -Wno-unused-parameter \
	-g $(OPT) $(SANFLAGS) -MMD -MP -Ibackend -Icatalog -Iui $(PKG_CFLAGS) \
	-DDV_THEMES_DIR='"$(PREFIX)/share/dvault/themes"' $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL = $(PKG_LIBS) -lpthread -lm

LIB_SRC := $(wildcard backend/*.c catalog/*.c)
UI_SRC := $(filter-out ui/main.c,$(wildcard ui/*.c ui/screens/*.c))
TEST_SRC := $(wildcard tests/unit/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
UI_OBJ := $(UI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

NOCONFIG_GOALS := clean distclean help deps test-deps check-format check-size format
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
-include $(BUILD)/config.mk
endif

.PHONY: all run demo test unit unit-tests all-tests valgrind valgrind-tests e2e console-test bench bench-quick bench-pitr soak fuzz fuzz-build install clean \
	deps test-deps check-format check-size format help

all: dvault dvload

# Dependencies are checked (and installed as root) before anything is compiled.
$(BUILD)/config.mk: scripts/deps.sh Makefile
	@mkdir -p $(BUILD)
	@scripts/deps.sh build
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS))"; } > $@.tmp && mv $@.tmp $@

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(BUILD)/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/libdvault.a: $(LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libdvui.a: $(UI_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/dvault: $(BUILD)/ui/main.o $(BUILD)/libdvui.a $(BUILD)/libdvault.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/dvload: $(BUILD)/tools/dvload.o $(BUILD)/libdvault.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# The S3 client on the command line (tests/e2e/s3_client.sh; not installed).
$(BUILD)/s3probe: $(BUILD)/tools/s3probe.o $(BUILD)/libdvault.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# The target's store on the command line (tests/e2e/s3_target.sh; not installed).
$(BUILD)/tprobe: $(BUILD)/tools/tprobe.o $(BUILD)/libdvault.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# A test binary may wrap OS calls: list them in a line "// WRAP: open read" in its source.
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libdvui.a $(BUILD)/libdvault.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< \
	  $(patsubst %,-Wl$(comma)--wrap=%,$(shell sed -n 's|^// WRAP: ||p' tests/unit/test_$*.c)) \
	  $(BUILD)/libdvui.a $(BUILD)/libdvault.a $(LIBS_ALL) $(TEST_LIBS)

.SECONDARY:

ifeq ($(SANITIZER),)
dvault: $(BUILD)/dvault
	@ln -sf $(BUILD)/dvault dvault
dvload: $(BUILD)/dvload
	@ln -sf $(BUILD)/dvload dvload
else
dvault: $(BUILD)/dvault
dvload: $(BUILD)/dvload
endif

# The demo: server and target under ./var, created once from config.yaml.
demo: all
	@./scripts/demo.sh

run: demo
	./dvault -c config.yaml

TEST_ENV = DVAULT=$(CURDIR)/$(BUILD)/dvault DVLOAD=$(CURDIR)/$(BUILD)/dvload \
	S3PROBE=$(CURDIR)/$(BUILD)/s3probe TPROBE=$(CURDIR)/$(BUILD)/tprobe \
	BUILD=$(CURDIR)/$(BUILD) SRC=$(CURDIR) SANITIZER=$(SANITIZER)

unit: test-deps
	@$(MAKE) --no-print-directory unit-tests

unit-tests: $(BUILD)/dvault $(BUILD)/dvload $(TEST_BIN)
	@$(TEST_ENV) tests/run.sh unit $(TEST_BIN)

test: test-deps
	@$(MAKE) --no-print-directory all-tests

all-tests: $(BUILD)/dvault $(BUILD)/dvload $(BUILD)/s3probe $(BUILD)/tprobe $(BUILD)/bench-unbacked $(TEST_BIN) $(if $(SANITIZER),,dvault dvload)
	@$(TEST_ENV) tests/run.sh all $(TEST_BIN)

valgrind: test-deps
	@$(MAKE) --no-print-directory valgrind-tests

valgrind-tests: $(TEST_BIN)
	@$(TEST_ENV) VALGRIND=1 tests/run.sh unit $(TEST_BIN)

# The benchmark's fixture generator (bench/gen.c).
$(BUILD)/bench-gen: bench/gen.c $(BUILD)/config.mk
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LIBS_ALL)

# The console's "not yet backed up" first page, timed through the backend (bench/unbacked.c).
$(BUILD)/bench-unbacked: bench/unbacked.c $(BUILD)/libdvault.a $(BUILD)/config.mk
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(BUILD)/libdvault.a $(LIBS_ALL)

bench: all $(BUILD)/bench-gen $(BUILD)/bench-unbacked
	@scripts/deps.sh bench
	@$(TEST_ENV) bench/run.sh full
	@$(TEST_ENV) bench/scale.sh catalog full

bench-quick: all $(BUILD)/bench-gen $(BUILD)/bench-unbacked
	@scripts/deps.sh bench
	@$(TEST_ENV) bench/run.sh quick
	@$(TEST_ENV) bench/scale.sh catalog quick

# issue 13: WAL bound, writer wait, archive bytes, archiver CPU at 2,000 databases
bench-pitr: all
	@$(TEST_ENV) bench/pitr.sh full

# the long soak: the hot-backup test (4 writers, apply and keep, every copy restored and
# checked) for ROUNDS backups (make test runs it with 10), then the incremental soak (page
# sizes 512..65536, VACUUM and wal_checkpoint(TRUNCATE), a writer reconnecting per
# transaction, every set restored and checked) for INCR_ROUNDS backups per page size and mode
# (make test runs it with 6)
soak: all
	@$(TEST_ENV) ROUNDS=$(or $(ROUNDS),300) bash tests/e2e/backup_hot.sh
	@$(TEST_ENV) ROUNDS=$(or $(INCR_ROUNDS),100) bash tests/e2e/soak_incr.sh

# Fuzzing (clang's libFuzzer): every parser of untrusted input (docs/reliability.md), FUZZ_SECONDS each (default 60).
# The sources are compiled by clang with the fuzzer's coverage and ASan+UBSan into build/fuzz/
# (never the gcc-built libdvault.a); seed corpora are generated from a real server and backup
# by tests/fuzz/run.sh, crashes land in build/fuzz/crashes/<parser>/.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="wal delta"]
FUZZ_TARGETS ?= config theme manifest nlolist recoverlist wal walfix delta deltafix \
	pagemap incr archseg
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERRFLAG) -Wshadow -Wno-unused-parameter \
	-g -O1 $(FUZZ_SAN) -MMD -MP -Ibackend -Icatalog -Iui $(PKG_CFLAGS) \
	-DDV_THEMES_DIR='"$(PREFIX)/share/dvault/themes"'
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(LIB_SRC) ui/theme.c)
FUZZ_BIN = $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

build/fuzz/obj/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/harness.c tests/fuzz/targets.c $(FUZZ_OBJ)
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MF build/fuzz/obj/harness-$*.d -MT $@ -fsanitize=fuzzer -DFUZZ_TARGET=$* -o $@ \
	  tests/fuzz/harness.c $(FUZZ_OBJ) $(LIBS_ALL)

fuzz-build: $(FUZZ_BIN)

fuzz: all
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@$(TEST_ENV) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/dvault/themes \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/dvault $(BUILD)/dvload $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 themes/*.yaml $(DESTDIR)$(PREFIX)/share/dvault/themes/
	install -m 0644 docs/man/dvault.1 docs/man/dvload.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# The size rules (docs/architecture.md): files <= 1,200 lines, functions <= 120.
check-size:
	@scripts/check-size.sh

FORMAT_SRC = $(wildcard backend/*.[ch] catalog/*.[ch] ui/*.[ch] ui/screens/*.[ch] tools/*.c \
	tests/unit/*.[ch])

check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

format:
	clang-format -i $(FORMAT_SRC)

clean:
	rm -rf build dvault dvload

help:
	@sed -n 's/^#   //p' Makefile

-include $(LIB_OBJ:.o=.d) $(UI_OBJ:.o=.d) $(BUILD)/ui/main.d $(BUILD)/tools/dvload.d \
	$(BUILD)/tools/s3probe.d $(BUILD)/tools/tprobe.d $(TEST_BIN:%=%.d) $(FUZZ_OBJ:.o=.d) $(FUZZ_TARGETS:%=build/fuzz/obj/harness-%.d)
