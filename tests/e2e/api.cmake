# End-to-end tests of the HTTP API (API.md): a real server in-process on loopback, SQLite and
# local blob stores in a temp directory, a fake clock and a hand-driven sweeper.
add_library(fp_e2e_server STATIC ${CMAKE_CURRENT_SOURCE_DIR}/test_server.cc)
target_include_directories(fp_e2e_server PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(fp_e2e_server PUBLIC fp_http fp_store fp_test_support GTest::gtest Boost::json)

foreach(suite files content uploads auth errors transport limits hostile tenancy disk)
  fp_test(e2e_${suite}_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${suite}_test.cc
    DEPS fp_e2e_server fp_http fp_store fp_test_support
    LABELS e2e)
endforeach()
