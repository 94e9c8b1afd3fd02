"""Reference computations for the tests, independent of the code under test."""

from math import cos, degrees, sin, sqrt, tan


def utm_to_latlon(x: float, y: float, zone: int) -> tuple[float, float]:
    """Inverse transverse Mercator on WGS 84, northern hemisphere (Snyder 1987, eqs. 8-18 to 8-25)."""
    a, f, k0 = 6378137.0, 1 / 298.257223563, 0.9996
    e2 = f * (2 - f)
    ep2 = e2 / (1 - e2)
    mu = y / k0 / (a * (1 - e2 / 4 - 3 * e2**2 / 64 - 5 * e2**3 / 256))
    e1 = (1 - sqrt(1 - e2)) / (1 + sqrt(1 - e2))
    phi = (
        mu
        + (3 * e1 / 2 - 27 * e1**3 / 32) * sin(2 * mu)
        + (21 * e1**2 / 16 - 55 * e1**4 / 32) * sin(4 * mu)
        + 151 * e1**3 / 96 * sin(6 * mu)
        + 1097 * e1**4 / 512 * sin(8 * mu)
    )
    n = a / sqrt(1 - e2 * sin(phi) ** 2)
    t, c = tan(phi) ** 2, ep2 * cos(phi) ** 2
    r = a * (1 - e2) / (1 - e2 * sin(phi) ** 2) ** 1.5
    d = (x - 500000) / (n * k0)
    lat = phi - n * tan(phi) / r * (
        d**2 / 2
        - (5 + 3 * t + 10 * c - 4 * c**2 - 9 * ep2) * d**4 / 24
        + (61 + 90 * t + 298 * c + 45 * t**2 - 252 * ep2 - 3 * c**2) * d**6 / 720
    )
    lon = (
        d - (1 + 2 * t + c) * d**3 / 6 + (5 - 2 * c + 28 * t - 3 * c**2 + 8 * ep2 + 24 * t**2) * d**5 / 120
    ) / cos(phi)
    return degrees(lat), (zone - 1) * 6 - 177 + degrees(lon)
