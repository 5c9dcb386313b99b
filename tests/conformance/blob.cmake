# The BlobStore conformance suite, instantiated for every backend built here.
fp_test(blob_store_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/blob_store_test.cc
  DEPS fp_blob_memory fp_blob_local fp_blob_s3
  LABELS conformance)

# Store URIs (store/factory): the options each scheme takes.
fp_test(store_factory_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/store_factory_test.cc
  DEPS fp_store
  LABELS unit)
