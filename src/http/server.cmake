fp_library(fp_http
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/server.cc ${CMAKE_CURRENT_SOURCE_DIR}/response_head.cc
  DEPS fp_api Threads::Threads spdlog::spdlog)
