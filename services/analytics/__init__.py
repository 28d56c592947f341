"""Analytics service: reach, engagement and earned media value, aggregated by Faust."""
