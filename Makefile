# Mosaic: thin wrapper over CMake, as DuckDB does.
#   make          build build/mosaic
#   make test     bootstrap, build, unit tests (also under ASan/UBSan), integration and e2e tests
#   make demo     bootstrap, build, run the demo on 3 managed nodes
#   make bench    bootstrap, build, run the benchmarks
#   make benches  build the micro-benchmarks (build/bench/*_bench) only
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
# A new build dir is made with Ninja when it is installed; an existing one keeps the generator
# it was made with (CMake cannot switch it).
generator = $(if $(wildcard $(1)/CMakeCache.txt),,$(if $(shell command -v ninja),-G Ninja))

.PHONY: all build bootstrap test unit-test asan-test integration-test e2e-test demo bench benches clean

all: build

build:
	cmake -S . -B $(BUILD) $(call generator,$(BUILD)) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

bootstrap:
	@bash scripts/bootstrap.sh

test: bootstrap build
	$(MAKE) --no-print-directory unit-test asan-test integration-test e2e-test

unit-test:
	cd $(BUILD) && ctest -L unit --output-on-failure -j$(JOBS)

asan-test:
	cmake -S . -B $(ASAN_BUILD) $(call generator,$(ASAN_BUILD)) -DCMAKE_BUILD_TYPE=Debug -DMOSAIC_SANITIZE=ON \
	  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS) --target mosaic_unit_tests
	ASAN_OPTIONS=detect_leaks=1 bash scripts/gtest-shards.sh $(ASAN_BUILD)/mosaic_unit_tests $(JOBS)

integration-test:
	cd $(BUILD) && ctest -L integration --output-on-failure -j$(JOBS)

e2e-test:
	MOSAIC_BIN=$(abspath $(BUILD))/mosaic bash tests/e2e/run.sh

demo: bootstrap build
	$(BUILD)/mosaic demo

benches: build
	cmake --build $(BUILD) -j$(JOBS) --target mosaic_benches

bench: benches
	@bash scripts/bootstrap.sh bench
	BUILD=$(BUILD) bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
