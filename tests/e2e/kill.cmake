# The kill test: the real `fileport serve` is SIGKILLed at random moments under a concurrent
# Files/Uploads workload and restarted on the same data directory; everything acknowledged
# must survive, byte for byte. FILEPORT_KILL_ITERATIONS / FILEPORT_KILL_SEED tune a run.
fp_test(kill_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/kill_test.cc DEPS fp_test_support LABELS e2e)
add_dependencies(kill_test fileport)
target_compile_definitions(kill_test PRIVATE FILEPORT_BIN="$<TARGET_FILE:fileport>")
