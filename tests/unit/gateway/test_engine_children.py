"""How the NGINX engine finds a master's workers in ``/proc`` (a folder laid out as it)."""

from pathlib import Path

from migration.gateway.nginx_engine import child_processes


def _process(proc: Path, pid: int, name: str, parent: int) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({name}) S {parent} {pid} {pid} 0 -1\n")


def test_children_are_read_from_the_kernels_list_where_it_keeps_one(tmp_path: Path) -> None:
    (tmp_path / "7" / "task" / "7").mkdir(parents=True)
    (tmp_path / "7" / "task" / "7" / "children").write_text("8 9 ")
    assert child_processes(tmp_path, 7) == [8, 9]


def test_without_that_list_every_process_parent_is_read(tmp_path: Path) -> None:
    _process(tmp_path, 7, "nginx", 1)
    _process(tmp_path, 8, "nginx", 7)
    _process(tmp_path, 9, "a (b) 7", 1)  # its name looks like a parent of 7: it is not
    _process(tmp_path, 10, "nginx", 7)
    (tmp_path / "self").mkdir()
    (tmp_path / "11").mkdir()  # a process that ended while /proc was read
    assert sorted(child_processes(tmp_path, 7)) == [8, 10]
