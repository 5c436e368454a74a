# Quarry's front door. Each target installs missing Debian packages, configures meson once, runs.
#   make          build (build/)                 make check   all tests under ASan+UBSan (build-asan/)
#   make demo     build and run the demo         make bench   release build and benchmarks (build-release/)
#   make fuzz     libFuzzer runs (build-fuzz/; FUZZ_SECONDS=30 per target, FUZZ_TARGETS=all)
#   make lint     include direction, banned functions, format
.PHONY: all build check demo bench fuzz lint deps clean

MESON_COMMON := --wrap-mode=nodownload
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=

all: build

deps:
	@scripts/deps.sh build

build: deps
	@[ -f build/build.ninja ] || meson setup build $(MESON_COMMON) --buildtype=debugoptimized >/dev/null
	@ninja -C build

check: deps lint
	@[ -f build-asan/build.ninja ] || meson setup build-asan $(MESON_COMMON) --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C build-asan
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp:print_suppressions=0 \
		meson test -C build-asan --print-errorlogs --num-processes 2

demo: build
	@scripts/demo.sh build

bench: deps
	@[ -f build-release/build.ninja ] || meson setup build-release $(MESON_COMMON) --buildtype=release \
		-Db_ndebug=false >/dev/null
	@ninja -C build-release
	@scripts/bench.sh build-release

fuzz:
	@scripts/deps.sh fuzz
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz $(MESON_COMMON) --buildtype=debugoptimized \
		-Dfuzz=true -Db_lundef=false >/dev/null
	@ninja -C build-fuzz
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-asan build-release build-fuzz
