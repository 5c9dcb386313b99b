# Unit tests of the core services over the in-memory stores with a FakeClock, plus the
# fault-injection walks (core_test) built on tests/unit/faulty_stores.h.
fp_test(validation_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/validation_test.cc DEPS fp_core fp_meta_memory fp_blob_memory LABELS unit)
fp_test(sizes_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sizes_test.cc DEPS fp_common LABELS unit)
fp_test(ids_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/ids_test.cc DEPS fp_core fp_meta_memory fp_blob_memory LABELS unit)
fp_test(auth_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/auth_test.cc DEPS fp_core fp_meta_memory fp_blob_memory LABELS unit)
fp_test(file_service_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/file_service_test.cc DEPS fp_core fp_meta_memory fp_blob_memory LABELS unit)
fp_test(upload_service_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/upload_service_test.cc DEPS fp_core fp_meta_memory fp_blob_memory Threads::Threads LABELS unit)
fp_test(sweeper_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sweeper_test.cc DEPS fp_core fp_meta_memory fp_blob_memory Threads::Threads LABELS unit)
fp_test(core_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/core_test.cc DEPS fp_core fp_meta_memory fp_blob_memory fp_store LABELS unit)
fp_test(wire_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/wire_test.cc DEPS fp_model LABELS unit)
fp_test(rate_limiter_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rate_limiter_test.cc DEPS fp_api LABELS unit)
fp_test(content_headers_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/content_headers_test.cc DEPS fp_api LABELS unit)
fp_test(response_head_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/response_head_test.cc DEPS fp_http LABELS unit)
