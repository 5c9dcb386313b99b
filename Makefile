# fileport — the two commands a new user needs:
#   make run    set up everything and run the server on the embedded default (SQLite + ./fileport-data)
#   make test   set up everything and run every test suite
# and for robustness work:
#   make test-asan               every test suite on a build with AddressSanitizer + UBSan (build-asan/)
#   make fuzz [FUZZ_SECONDS=60]  each libFuzzer target of fuzz/ for that long (clang, build-fuzz/)
#   make fuzz-smoke              replay every seed corpus and fuzz each target for 10 s
# `make test` also builds the fuzz targets with clang and runs each for CI_FUZZ_SECONDS.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
FILEPORT := $(BUILD)/src/cli/fileport
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
CI_FUZZ_SECONDS ?= 15

.PHONY: all deps build run test test-unit test-sdk test-kill clean test-asan fuzz-build fuzz fuzz-smoke

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/Makefile
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(FILEPORT) serve

# A fuzz tree that fails to build is reported by run-tests.sh as failed fuzz runs; a machine
# where clang cannot be installed skips them, loudly.
test: build
	-@$(MAKE) --no-print-directory fuzz-build
	FUZZ_SECONDS=$(CI_FUZZ_SECONDS) scripts/run-tests.sh $(BUILD) $(FUZZ_BUILD)

# GCC's sanitizers, so that the installed-package test builds its example with the same ones.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_FLAGS) -DFILEPORT_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1} \
	  scripts/run-tests.sh $(ASAN_BUILD)

# Only the fuzz targets and the libraries they test are built (clang + libFuzzer).
fuzz-build:
	@scripts/install-deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DFILEPORT_FUZZ=ON \
	  -DFILEPORT_BUILD_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD) 10

clean:
	rm -rf $(BUILD)
