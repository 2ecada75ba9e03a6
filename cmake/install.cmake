# Installing and packaging zim-unfriend-worker.
#
#   cmake --install build --prefix /usr/local
#   (cd build && cpack -G DEB)
#
# Installs the worker only (not the test tools): bin/zim-unfriend-worker, its
# man page, the example configuration and docs/ in share/doc/zim-unfriend/,
# and the systemd unit (/lib/systemd/system for the prefix /usr, else
# PREFIX/lib/systemd/system; -DZU_SYSTEMD_UNITDIR= overrides) with ExecStart=
# pointing at the installed binary. The version is the project's
# (CMakeLists.txt).
include(GNUInstallDirs)

set(ZU_DOCDIR ${CMAKE_INSTALL_DATADIR}/doc/zim-unfriend)

install(TARGETS zim-unfriend-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES README.md deploy/worker.cfg.example DESTINATION ${ZU_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${ZU_DOCDIR} FILES_MATCHING PATTERN "*.md")

# The man page (docs/zim-unfriend-worker.1.in) and the systemd unit name
# installed paths, so they are written at install time, when the prefix is
# known (cmake/InstallPrefixed.cmake): `cmake --install --prefix` and the
# package get the paths right. The man page is gzipped (-9n); the unit goes
# to /lib/systemd/system for the prefix /usr (where Debian puts units), else
# PREFIX/lib/systemd/system, and only the worker's path on its Exec*= lines
# is rewritten. The date: SOURCE_DATE_EPOCH when set.
string(TIMESTAMP ZU_MAN_DATE "%Y-%m-%d" UTC)
set(ZU_SYSTEMD_UNITDIR "" CACHE STRING
    "The systemd unit's directory; empty: /lib/systemd/system for prefix /usr, else PREFIX/...")
find_program(GZIP gzip)
install(CODE "
  set(ZU_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
  set(ZU_WORK_DIR \"${CMAKE_BINARY_DIR}/install-work\")
  set(ZU_VERSION \"${PROJECT_VERSION}\")
  set(ZU_MAN_DATE \"${ZU_MAN_DATE}\")
  set(ZU_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(ZU_MANDIR \"${CMAKE_INSTALL_MANDIR}\")
  set(ZU_DOCDIR \"${ZU_DOCDIR}\")
  set(ZU_UNITDIR \"${ZU_SYSTEMD_UNITDIR}\")
  set(ZU_GZIP \"${GZIP}\")
  include(\"${CMAKE_SOURCE_DIR}/cmake/InstallPrefixed.cmake\")
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
