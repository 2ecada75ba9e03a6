# Installs the files whose text names installed paths: the man page and the
# systemd unit.
#
# Runs at install time (install(CODE) includes it), so CMAKE_INSTALL_PREFIX is
# the prefix in force then: `cmake --install --prefix P` or CPack's packaging
# prefix, not only the one the build was configured with.
#
# In:  ZU_SOURCE_DIR  the source tree
#      ZU_WORK_DIR    a build-tree directory for the generated copies
#      ZU_VERSION     project()'s version
#      ZU_MAN_DATE    the man page's date
#      ZU_BINDIR, ZU_MANDIR, ZU_DOCDIR
#                     GNUInstallDirs' directories (relative to the prefix, or absolute)
#      ZU_UNITDIR     where the unit goes; empty: /lib/systemd/system under the
#                     prefix /usr (where Debian packages put units), else
#                     <prefix>/lib/systemd/system
#      ZU_GZIP        gzip, or empty: the man page is installed uncompressed

function(zu_full out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

zu_full(ZU_FULL_BINDIR "${ZU_BINDIR}")
zu_full(ZU_FULL_MANDIR "${ZU_MANDIR}")
zu_full(ZU_FULL_DOCDIR "${ZU_DOCDIR}")
if(ZU_UNITDIR)
  zu_full(ZU_FULL_UNITDIR "${ZU_UNITDIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(ZU_FULL_UNITDIR "/lib/systemd/system")
else()
  zu_full(ZU_FULL_UNITDIR "lib/systemd/system")
endif()

# A private directory per run: concurrent installs never read a half-written copy.
string(RANDOM LENGTH 12 _zu_tag)
set(_zu_dir "${ZU_WORK_DIR}/run-${_zu_tag}")
file(MAKE_DIRECTORY "${_zu_dir}")

# The man page: version and paths filled in, then gzip -9n (no name or time
# stamp in the header: the same source gives the same file).
set(PROJECT_VERSION "${ZU_VERSION}")
string(REPLACE "-" "\\-" ZU_MAN_DOCDIR "${ZU_FULL_DOCDIR}")  # roff: \- is a hyphen-minus
string(REPLACE "-" "\\-" ZU_MAN_UNITDIR "${ZU_FULL_UNITDIR}")
configure_file("${ZU_SOURCE_DIR}/docs/zim-unfriend-worker.1.in"
               "${_zu_dir}/zim-unfriend-worker.1" @ONLY)
set(_zu_man "${_zu_dir}/zim-unfriend-worker.1")
if(ZU_GZIP)
  execute_process(COMMAND "${ZU_GZIP}" -9 -n "${_zu_man}" RESULT_VARIABLE _zu_rc)
  if(NOT _zu_rc EQUAL 0)
    message(FATAL_ERROR "gzip of the man page failed: ${_zu_rc}")
  endif()
  set(_zu_man "${_zu_man}.gz")
endif()
file(INSTALL DESTINATION "${ZU_FULL_MANDIR}/man1" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${_zu_man}")

# The unit: only the worker's path on the Exec*= lines (ExecStart, and any
# ExecStartPre, ExecReload, ...) is rewritten; the rest is installed as written
# in deploy/systemd/.
set(_zu_src "${ZU_SOURCE_DIR}/deploy/systemd/zim-unfriend-worker.service")
file(READ "${_zu_src}" _zu_unit)
# Exec...=[prefix characters]<any path>/zim-unfriend-worker
string(REGEX REPLACE "(\nExec[A-Za-z]*=[-@:+!]*)[^ \t\n]*/zim-unfriend-worker([ \t\n])"
       "\\1${ZU_FULL_BINDIR}/zim-unfriend-worker\\2" _zu_unit "${_zu_unit}")
string(REGEX MATCH "\nExecStart=[-@:+!]*([^ \t\n]*)" _zu_exec "${_zu_unit}")
if(NOT CMAKE_MATCH_1 STREQUAL "${ZU_FULL_BINDIR}/zim-unfriend-worker")
  message(FATAL_ERROR "${_zu_src}: no ExecStart line runs .../zim-unfriend-worker; "
                      "cannot point it at ${ZU_FULL_BINDIR}")
endif()
file(WRITE "${_zu_dir}/zim-unfriend-worker.service" "${_zu_unit}")
file(INSTALL DESTINATION "${ZU_FULL_UNITDIR}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${_zu_dir}/zim-unfriend-worker.service")

file(REMOVE_RECURSE "${_zu_dir}")
