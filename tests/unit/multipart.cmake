# Unit tests of the streaming multipart/form-data parser.
fp_test(multipart_parser_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/multipart_parser_test.cc DEPS fp_multipart LABELS unit)
