# Installing and packaging zim-unfriend-worker.
#
#   cmake --install build --prefix /usr/local
#   (cd build && cpack -G DEB)
#
# Installs the worker only (not the test tools): bin/zim-unfriend-worker, its
# man page, the example configuration and docs/ in share/doc/zim-unfriend/,
# and the systemd unit in lib/systemd/system with ExecStart= pointing at the
# installed binary. The version is the project's (CMakeLists.txt).
include(GNUInstallDirs)

set(ZU_DOCDIR ${CMAKE_INSTALL_DATADIR}/doc/zim-unfriend)

install(TARGETS zim-unfriend-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The man page: the version and the date (SOURCE_DATE_EPOCH when set) at
# configure time; the documentation directory at install time, under the
# prefix actually used (cmake --install --prefix, cpack's /usr).
string(TIMESTAMP ZU_MAN_DATE "%Y-%m-%d" UTC)
set(ZU_MAN_DOCDIR @ZU_MAN_DOCDIR@) # kept for the install step below
configure_file(${CMAKE_SOURCE_DIR}/docs/zim-unfriend-worker.1.in
               ${CMAKE_BINARY_DIR}/zim-unfriend-worker.1.in @ONLY)

install(FILES README.md deploy/worker.cfg.example DESTINATION ${ZU_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${ZU_DOCDIR} FILES_MATCHING PATTERN "*.md")

# The systemd unit, its ExecStart= at the installed binary. Units go to
# lib/systemd/system under the prefix (/usr/lib/systemd/system for /usr).
# Both files are finished at install time, when the prefix is known.
install(CODE "
  set(bindir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(ZU_MAN_DOCDIR \"\${CMAKE_INSTALL_PREFIX}/${ZU_DOCDIR}\")
  configure_file(\"${CMAKE_BINARY_DIR}/zim-unfriend-worker.1.in\"
                 \"${CMAKE_BINARY_DIR}/install/zim-unfriend-worker.1\" @ONLY)
  file(READ \"${CMAKE_SOURCE_DIR}/deploy/systemd/zim-unfriend-worker.service\" unit)
  string(REPLACE \"/usr/local/bin/zim-unfriend-worker\" \"\${bindir}/zim-unfriend-worker\"
         unit \"\${unit}\")
  file(WRITE \"${CMAKE_BINARY_DIR}/install/zim-unfriend-worker.service\" \"\${unit}\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man1\"
       TYPE FILE FILES \"${CMAKE_BINARY_DIR}/install/zim-unfriend-worker.1\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\"
       TYPE FILE FILES \"${CMAKE_BINARY_DIR}/install/zim-unfriend-worker.service\")
")

# A Debian package: cpack -G DEB in the build directory. Depends is computed
# from the binary's libraries (dpkg-shlibdeps).
set(CPACK_PACKAGE_NAME zim-unfriend)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "zim-unfriend maintainers <zim-unfriend@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Kafka worker that deletes ZIM friend lists for account events")
set(CPACK_PACKAGE_DESCRIPTION
    "zim-unfriend-worker consumes account-deleted and friend-reset events from Kafka,\n\
calls ZEGOCLOUD In-app Chat's DeleteAllFriends for each within the AppId rate\n\
limit, and publishes a result per event. At-least-once, per-user order,\n\
pauses instead of failing during outages.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
include(CPack)
