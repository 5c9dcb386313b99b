# Streaming multipart/form-data parser (standard library only; no Beast).
fp_library(fp_multipart SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/multipart_parser.cc DEPS fp_common)
