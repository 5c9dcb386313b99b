# fileport — the two commands a new user needs:
#   make run    set up everything and run the server on the embedded default (SQLite + ./fileport-data)
#   make test   set up everything and run every test suite
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
FILEPORT := $(BUILD)/src/cli/fileport

.PHONY: all deps build run test test-unit test-sdk test-kill clean

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

test: build
	scripts/run-tests.sh $(BUILD)

clean:
	rm -rf $(BUILD)
