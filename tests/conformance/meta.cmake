# The MetadataStore conformance suite, run against every backend (see metadata_store_test.cc).
fp_test(metadata_store_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/metadata_store_test.cc
  DEPS fp_meta_memory fp_meta_sqlite fp_meta_postgres Threads::Threads
  LABELS conformance)
