"""A labs file whose event source cannot be opened (a port past 65535) stops the dashboard at start
with the documented error, naming the lab and the field: app.py as a subprocess, before any lab's
source starts, and never a traceback."""
import subprocess
import sys

from tests.helpers import ROOT, free_port


def test_a_source_port_out_of_range_stops_the_start_with_a_clear_error(tmp_path):
    labs = tmp_path / "labs.toml"
    labs.write_text(f'[labs.east]\nevent_source = "tcp://127.0.0.1:{free_port()}"\n\n'
                    f'[labs.west]\nevent_source = "ws://alice:s3cret@127.0.0.1:99999/ws/"\n')
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--labs", str(labs),
                             "--access", "open", "--data-dir", str(tmp_path / "data"),
                             "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().endswith(
        "app.py: error: labs.west.event_source: the port must be a number from 1 to 65535")
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert "subscribed" not in result.stderr  # no lab's source was started before it


def test_an_alerts_file_naming_no_lab_stops_the_start_with_a_clear_error(tmp_path):
    # A misspelt lab's rules would never run: with --labs every lab's name is known, and the
    # start stops, naming the table and the labs.
    labs = tmp_path / "labs.toml"
    labs.write_text(f'[labs.east]\nevent_source = "tcp://127.0.0.1:{free_port()}"\n\n'
                    f'[labs.west]\nevent_source = "tcp://127.0.0.1:{free_port()}"\n')
    alerts = tmp_path / "alerts.toml"
    alerts.write_text("[labs.eats.rules.device_bad]\nminutes = 5\n")
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--labs", str(labs),
                             "--access", "open", "--data-dir", str(tmp_path / "data"),
                             "--alerts-config", str(alerts), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().endswith(
        "app.py: error: alerts_config: labs.'eats': no lab of that name (--labs names east, west)")
    assert "Traceback" not in result.stderr
