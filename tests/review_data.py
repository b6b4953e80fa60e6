"""A small session written out by hand, with its peaks and alarms worked out on paper.

Script (t_s = seconds from session start; HR and SpO2 every second 0..329):
  BP  30 s  120/80 (MAP 93)   -> the only NIBP before infusion: baseline 120/80
  60 s  infusion_start         -> minute 0 of the review axis
  HR 130 from 100 to 140 s, 135 at 120 s, 72 otherwise after 60 s (70 before)
        -> hr_high (>120 for 30 s, medium) starts 130 s, ends 151 s (safe <=115 for 10 s)
        -> hr_rise (>= 1.3 x 70 = 91 for 60 s) does not fire: only 41 s
        -> peak HR 135 at 120 s = +1.0 min
  SpO2 90 from 160 to 180 s, 89 at 170 s, 98 otherwise
        -> spo2_low (<92 for 15 s, medium) starts 175 s, ends 191 s (>=93 for 10 s)
        -> lowest SpO2 89 at 170 s = +1.833 min
  BP 150 s 185/105 -> bp_critical (high), bp_high (medium), sbp_rise (>= 144, low) start
  BP 210 s 150/112 -> all three continue; peak DBP 112 at +2.5 min
  BP 270 s 125/78  -> all three end at 270 s
  250 s HR 210 flagged artifact, 251 s SpO2 sensor_off: never peaks, never alarms
  200 s note; 300 s infusion_stop; 330 s session_end
Alarm counts: high 1, medium 3, low 1, technical 0. Peak SBP 185 at +1.5 min.
"""
from __future__ import annotations

from monitor.playback import replay
from monitor.replay_csv import parse_text


def hand_csv() -> str:
    lines = ["t_s,parameter,value,status"]
    bp = {30: (120, 80, 93), 150: (185, 105, 132), 210: (150, 112, 125), 270: (125, 78, 94)}
    for t in range(0, 330):
        if t == 60:
            lines.append("60,event,infusion_start,")
        if t == 200:
            lines.append('200,event,"note:patient anxious, reassured",')
        if t == 300:
            lines.append("300,event,infusion_stop,")
        hr = 70 if t < 60 else (135 if t == 120 else 130 if 100 <= t <= 140 else 72)
        spo2 = 89 if t == 170 else 90 if 160 <= t <= 180 else 98
        if t == 250:
            lines.append("250,hr,210,artifact")
        else:
            lines.append(f"{t},hr,{hr},")
        if t == 251:
            lines.append("251,spo2,,sensor_off")
        else:
            lines.append(f"{t},spo2,{spo2},")
        if t in bp:
            s, d, m = bp[t]
            lines += [f"{t},sbp,{s},", f"{t},dbp,{d},", f"{t},map,{m},"]
    lines.append("330,event,session_end,")
    return "\n".join(lines) + "\n"


EXPECTED = {
    "baseline_sbp": 120, "baseline_dbp": 80, "baseline_hr": 70, "baseline_spo2": 98,
    "peak_sbp": 185, "peak_sbp_min": 1.5, "peak_dbp": 112, "peak_dbp_min": 2.5,
    "peak_hr": 135, "peak_hr_min": 1.0, "min_spo2": 89, "min_spo2_min": (170 - 60) / 60,
    "alarms_high": 1, "alarms_medium": 3, "alarms_low": 1, "alarms_technical": 0,
    "nibp_count": 4, "duration_s": 330, "infusion_s": 240,
}
# rule -> (start s, end s) from session start
EXPECTED_ALERTS = {"hr_high": (130, 151), "spo2_low": (175, 191), "bp_critical": (150, 270),
                   "bp_high": (150, 270), "sbp_rise": (150, 270)}


def replay_hand_session(store, protocol, patient_ref: str = "PT-HAND", chair: str = "4") -> int:
    result = replay(store, protocol, parse_text(hand_csv(), "hand.csv"), patient_ref=patient_ref, chair=chair)
    return result.session_id
