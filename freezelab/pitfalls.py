"""placeholder"""
def check_pitfalls(model): return []
