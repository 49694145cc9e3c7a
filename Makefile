# dvault - backup and recovery console for a document server with a DAOS repository.
#
#   make            build dvault and dvload (left at the top of the checkout)
#   make run        build, create the demo server and target under ./var, open the console
#   make test       build and run the whole suite (unit, end-to-end, console)
#   make bench      benchmarks side by side with cp/rsync/find/sqlite3
#   make install    PREFIX=/usr/local DESTDIR=
#   SANITIZER=address,undefined  build and test with sanitizers (in build/san/)
#   V=1             show full commands

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS := ncursesw sqlite3 yaml-0.1 libcrypto
TEST_PKGS := cmocka

ifeq ($(SANITIZER),)
BUILD := build
SANFLAGS :=
else
BUILD := build/san
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

OPT ?= -O2
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-g $(OPT) $(SANFLAGS) -MMD -MP -Ibackend -Icatalog -Iui $(PKG_CFLAGS) \
	-DDV_THEMES_DIR='"$(PREFIX)/share/dvault/themes"' $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL = $(PKG_LIBS) -lpthread -lm

LIB_SRC := $(wildcard backend/*.c catalog/*.c)
UI_SRC := $(filter-out ui/main.c,$(wildcard ui/*.c))
TEST_SRC := $(wildcard tests/unit/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
UI_OBJ := $(UI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

NOCONFIG_GOALS := clean distclean help deps
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
-include $(BUILD)/config.mk
endif

.PHONY: all run demo test unit e2e console-test bench bench-quick soak fuzz install clean \
	deps test-deps check-format format help

all: dvault dvload

# Dependencies are checked (and installed as root) before anything is compiled.
$(BUILD)/config.mk: scripts/deps.sh Makefile
	@mkdir -p $(BUILD)
	@scripts/deps.sh build
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS))"; \
	   echo "TEST_CFLAGS := $$(pkg-config --cflags $(TEST_PKGS))"; \
	   echo "TEST_LIBS := $$(pkg-config --libs $(TEST_PKGS))"; } > $@.tmp && mv $@.tmp $@

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

# A test binary may wrap OS calls: list them in a line "// WRAP: open read" in its source.
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libdvui.a $(BUILD)/libdvault.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< \
	  $(patsubst %,-Wl$(comma)--wrap=%,$(shell sed -n 's|^// WRAP: ||p' tests/unit/test_$*.c)) \
	  $(BUILD)/libdvui.a $(BUILD)/libdvault.a $(LIBS_ALL) $(TEST_LIBS)

comma := ,
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
	BUILD=$(CURDIR)/$(BUILD) SRC=$(CURDIR) SANITIZER=$(SANITIZER)

unit: $(BUILD)/dvault $(BUILD)/dvload $(TEST_BIN)
	@$(TEST_ENV) tests/run.sh unit $(TEST_BIN)

test: test-deps
	@$(MAKE) --no-print-directory all-tests

all-tests: $(BUILD)/dvault $(BUILD)/dvload $(TEST_BIN) $(if $(SANITIZER),,dvault dvload)
	@$(TEST_ENV) tests/run.sh all $(TEST_BIN)

valgrind: $(TEST_BIN)
	@$(TEST_ENV) VALGRIND=1 tests/run.sh unit $(TEST_BIN)

# The benchmark's fixture generator (bench/gen.c).
$(BUILD)/bench-gen: bench/gen.c $(BUILD)/config.mk
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LIBS_ALL)

bench: all $(BUILD)/bench-gen
	@scripts/deps.sh bench
	@$(TEST_ENV) bench/run.sh full

bench-quick: all $(BUILD)/bench-gen
	@scripts/deps.sh bench
	@$(TEST_ENV) bench/run.sh quick

soak: all
	@$(TEST_ENV) SOAK=long tests/e2e/soak.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/dvault/themes
	install -m 0755 $(BUILD)/dvault $(BUILD)/dvload $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 themes/*.yaml $(DESTDIR)$(PREFIX)/share/dvault/themes/

check-format:
	@clang-format --dry-run --Werror backend/*.[ch] catalog/*.[ch] ui/*.[ch] tools/*.c tests/unit/*.[ch]

format:
	clang-format -i backend/*.[ch] catalog/*.[ch] ui/*.[ch] tools/*.c tests/unit/*.[ch]

clean:
	rm -rf build dvault dvload

help:
	@sed -n 's/^#   //p' Makefile

-include $(LIB_OBJ:.o=.d) $(UI_OBJ:.o=.d) $(BUILD)/ui/main.d $(BUILD)/tools/dvload.d \
	$(TEST_BIN:%=%.d)
